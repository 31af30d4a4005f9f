"""QGIS (python3-qgis, headless) as a client of a running satseg server.

Usage: qgis_layers.py BASE RESULT_ID
Prints one JSON object: whether the XYZ, vector-tile, WMTS and COG layers are valid, the COG's
renderer type and its class labels.
"""
import json
import os
import sys

os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')
from qgis.core import QgsApplication, QgsPalettedRasterRenderer, QgsRasterLayer, QgsVectorTileLayer  # noqa: E402

app = QgsApplication([], False)
app.initQgis()
base, rid = sys.argv[1:3]
out = {}
xyz = QgsRasterLayer(f"type=xyz&url={base}/results/{rid}/tiles/{{z}}/{{x}}/{{y}}.png&zmin=0&zmax=18", 'xyz', 'wms')
out['xyz'] = xyz.isValid()
vt = QgsVectorTileLayer(f"type=xyz&url={base}/results/{rid}/vector/{{z}}/{{x}}/{{y}}.mvt&zmin=0&zmax=17", 'vt')
out['vector_tiles'] = vt.isValid()
wmts = QgsRasterLayer(f"contextualWMSLegend=0&crs=EPSG:3857&dpiMode=7&format=image/png&layers=result-{rid}&styles=default"
                      f"&tileMatrixSet=GoogleMapsCompatible&url={base}/wmts/WMTSCapabilities.xml", 'wmts', 'wms')
out['wmts'] = wmts.isValid()
cog = QgsRasterLayer(f"/vsicurl/{base}/results/{rid}/mask.tif", 'cog', 'gdal')
out['cog'] = cog.isValid()
renderer = cog.renderer()
out['cog_renderer'] = renderer.type() if renderer else None
out['cog_labels'] = [c.label for c in renderer.classes()] if isinstance(renderer, QgsPalettedRasterRenderer) else None
print(json.dumps(out), flush=True)
# exitQgis() can crash while QGIS's network threads wind down; the answer is out, so leave at once.
os._exit(0)

#!/usr/bin/python3
"""GDAL as the oracle for vectorize: run gdal_polygonize.py (4-connectivity, the band's validity mask)
on a raster and print, as one JSON object, the polygon count and total area in m² per class value.

usage: gdal_polygon_stats.py RASTER
Areas: projected CRS -> planar area in CRS units times the unit size squared; geographic CRS and
normal-aspect Mercator (whose plane exaggerates areas) -> planar area after transforming to
EPSG:6933 (WGS 84 cylindrical equal-area), which is exact for polygons whose edges follow meridians
and parallels, as their pixel edges do.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from osgeo import gdal, ogr, osr

gdal.UseExceptions()
ogr.UseExceptions()
raster = sys.argv[1]
with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "polygons.gpkg")
    subprocess.run([sys.executable, shutil.which("gdal_polygonize.py"), "-q", "-f", "GPKG", raster, out, "polygons", "DN"], check=True)
    ds = ogr.Open(out)
    layer = ds.GetLayer()
    srs = layer.GetSpatialRef()
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_equal_area = None
    unit = 1.0
    if srs.IsGeographic() or "+proj=merc " in srs.ExportToProj4() + " ":
        cea = osr.SpatialReference()
        cea.ImportFromEPSG(6933)
        cea.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        to_equal_area = osr.CoordinateTransformation(srs, cea)
    else:
        unit = srs.GetLinearUnits()
    stats = {}
    for feature in layer:
        geom = feature.GetGeometryRef().Clone()
        if to_equal_area:
            geom.Transform(to_equal_area)
        entry = stats.setdefault(str(feature.GetField("DN")), {"count": 0, "area": 0.0})
        entry["count"] += 1
        entry["area"] += geom.GetArea() * unit * unit
print(json.dumps(stats))

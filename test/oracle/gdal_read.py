#!/usr/bin/python3
"""GDAL as the oracle: print what GDAL reads from a raster, as one JSON object.

usage: gdal_read.py FILE [XOFF YOFF XSIZE YSIZE]
Pixels are float64 little-endian, base64, one string per band; the mask is GDAL's per-dataset
mask (0 = invalid) when the dataset has one.
"""
import base64
import json
import sys

from osgeo import gdal, osr

gdal.UseExceptions()
path = sys.argv[1]
ds = gdal.Open(path)
info = {
    "width": ds.RasterXSize,
    "height": ds.RasterYSize,
    "bands": ds.RasterCount,
    "geotransform": list(ds.GetGeoTransform()),
    "dtype": gdal.GetDataTypeName(ds.GetRasterBand(1).DataType),
    "nodata": ds.GetRasterBand(1).GetNoDataValue(),
    "overviews": ds.GetRasterBand(1).GetOverviewCount(),
    "color_interps": [
        gdal.GetColorInterpretationName(ds.GetRasterBand(b).GetColorInterpretation()).lower()
        for b in range(1, ds.RasterCount + 1)
    ],
}
wkt = ds.GetProjection()
if wkt:
    srs = osr.SpatialReference(wkt=wkt)
    srs.AutoIdentifyEPSG()
    code = srs.GetAuthorityCode(None)
    info["epsg"] = int(code) if code and srs.GetAuthorityName(None) == "EPSG" else None
    info["proj4"] = srs.ExportToProj4()
if len(sys.argv) == 6:
    x, y, w, h = (int(v) for v in sys.argv[2:6])
    info["window"] = [x, y, w, h]
    info["pixels"] = []
    import numpy as np
    for b in range(1, ds.RasterCount + 1):
        arr = ds.GetRasterBand(b).ReadAsArray(x, y, w, h).astype("<f8")
        info["pixels"].append(base64.b64encode(arr.tobytes()).decode())
    flags = ds.GetRasterBand(1).GetMaskFlags()
    if flags & gdal.GMF_PER_DATASET and not flags & gdal.GMF_ALL_VALID:
        m = ds.GetRasterBand(1).GetMaskBand().ReadAsArray(x, y, w, h).astype("u1")
        info["mask"] = base64.b64encode(m.tobytes()).decode()
print(json.dumps(info))

"""Ground area of a grid's outline on the WGS 84 ellipsoid, through PROJ (pyproj), as an oracle.

Usage: geodesic_area.py EPSG GT0 GT1 GT2 GT3 GT4 GT5 WIDTH HEIGHT
Prints {"area_m2": ...}: the outline, densified to 400 points a side in the grid's CRS, transformed
to lon/lat and measured with pyproj's Geod (Karney's algorithm).
"""
import json
import sys

from pyproj import CRS, Geod, Transformer

epsg = int(sys.argv[1])
gt = [float(v) for v in sys.argv[2:8]]
width, height = int(sys.argv[8]), int(sys.argv[9])
to_lonlat = Transformer.from_crs(CRS.from_epsg(epsg), CRS.from_epsg(4326), always_xy=True)
n = 400
corners = [(0, 0), (width, 0), (width, height), (0, height)]
ring = []
for (c0, r0), (c1, r1) in zip(corners, corners[1:] + corners[:1]):
    for k in range(n):
        c = c0 + (c1 - c0) * k / n
        r = r0 + (r1 - r0) * k / n
        ring.append((gt[0] + c * gt[1] + r * gt[2], gt[3] + c * gt[4] + r * gt[5]))
lons, lats = to_lonlat.transform([p[0] for p in ring], [p[1] for p in ring])
area, _ = Geod(ellps="WGS84").polygon_area_perimeter(lons, lats)
print(json.dumps({"area_m2": abs(area)}))

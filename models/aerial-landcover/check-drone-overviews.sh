#!/bin/sh
# What reading a drone orthophoto's overviews (read/coarsened-source.ts) changes in aerial-landcover's
# mask, against averaging its full resolution. From one held-out Dubai image (tile_8, part 1, taken
# as 1 m): a 500 x 400 m crop upsampled to 5 cm (bicubic), cut to a polygon with an alpha band, and
# written as GDAL COGs as a drone pipeline would (RGBA with DEFLATE, and JPEG YCbCr with an internal
# mask), each with GDAL's default overviews (cubic), and RGBA with nearest-neighbour ones. satseg segments each on 8 x 8 blocks, read from the
# 8x overview. The reference: the same file averaged from its full resolution by GDAL itself onto
# the mask's grid (gdalwarp -r average -ovr NONE -tr 0.4 0.4), which satseg segments as it is.
# Needs ../shared and GDAL. Usage: sh models/aerial-landcover/check-drone-overviews.sh
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
shared=${SATSEG_SHARED:-$repo/../shared}
image=$shared/data/training/dubai/tile_8/images/$(ls "$shared/data/training/dubai/tile_8/images" | head -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > cut.geojson <<'EOF'
{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:32640"}},"features":[{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[300620,2779580],[301050,2779570],[301080,2779250],[300800,2779210],[300630,2779300],[300620,2779580]]]}}]}
EOF
gdal_translate -q -a_srs EPSG:32640 -a_ullr 300000 2780000 302149 2778521 "$image" full1m.tif
gdal_translate -q -projwin 300600 2779600 301100 2779200 full1m.tif crop1m.tif
gdalwarp -q -r cubic -tr 0.05 0.05 crop1m.tif fine.tif
gdalwarp -q -cutline cut.geojson -dstalpha -co TILED=YES -co COMPRESS=DEFLATE fine.tif fine-rgba.tif
gdal_translate -q -of COG -co COMPRESS=DEFLATE fine-rgba.tif rgba.tif
gdal_translate -q -of COG -co COMPRESS=JPEG -co QUALITY=90 fine-rgba.tif jpeg.tif
# The worst case: overviews by nearest neighbour (gdaladdo's default), a sample rather than an average.
gdal_translate -q -of COG -co COMPRESS=DEFLATE -co OVERVIEW_RESAMPLING=NEAREST fine-rgba.tif nearest.tif
satseg() { node "$repo/bin/satseg.js" "$@"; }
for kind in rgba jpeg nearest; do
  start=$(date +%s.%N)
  satseg segment "$kind.tif" -m aerial-landcover -o "$kind-mask.tif" --device cpu --no-progress > /dev/null 2>&1
  end=$(date +%s.%N)
  res=$(/usr/bin/python3 -c "from osgeo import gdal; print(gdal.Open('$kind-mask.tif').GetGeoTransform()[1])")
  # The JPEG file's mask is an internal mask band: carried over as alpha (the RGBA file's alpha is carried as it is).
  alpha=$([ "$kind" = jpeg ] && echo -dstalpha || true)
  gdalwarp -q -r average -ovr NONE $alpha -tr "$res" "$res" "$kind.tif" "$kind-reference.tif"
  satseg segment "$kind-reference.tif" -m aerial-landcover -o "$kind-reference-mask.tif" --device cpu --no-progress > /dev/null 2>&1
  /usr/bin/python3 - "$kind" "$(echo "$end - $start" | bc)" <<'EOF'
import sys
from osgeo import gdal
kind, seconds = sys.argv[1], float(sys.argv[2])
a = gdal.Open(f'{kind}-mask.tif').ReadAsArray()
b = gdal.Open(f'{kind}-reference-mask.tif').ReadAsArray()
both = (a != 255) & (b != 255)
print(f'{kind}: {a.shape[1]} x {a.shape[0]} mask in {seconds:.1f} s from the overviews; same class as from the full resolution averaged by GDAL on {100 * (a[both] == b[both]).mean():.2f} % of pixels; nodata the same on {100 * ((a == 255) == (b == 255)).mean():.2f} %')
EOF
done

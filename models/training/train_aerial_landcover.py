#!/usr/bin/env python3
"""Train, evaluate and export the ``aerial-landcover`` segmentation model.

One command (from the repository root) does everything: it trains a small
U-Net from scratch on the Dubai aerial imagery dataset (Humans in the Loop /
MBRSC, CC0), selects the best checkpoint by mIoU on the held-out tile_8,
exports it to ONNX with a channel Softmax (the output is probabilities),
writes the satseg metadata into the ONNX ``metadata_props`` and writes the
evaluation to ``models/aerial-landcover/metrics.json``::

    nice -n 10 /usr/bin/python3 models/training/train_aerial_landcover.py \\
        2>&1 | tee /tmp/train_aerial_landcover.log

Requirements: Debian's python3-torch (1.13, CPU is enough), python3-onnx
(>= 1.12), python3-numpy, python3-pil. Optionally ``node`` plus
``node_modules/onnxruntime-node`` of this repository: if present, the exported
model is run in onnxruntime-node and compared with PyTorch.

Data layout (``--data``)::

    tile_{1,2,5,6,7,8}/images/image_part_00{1..9}.jpg   RGB
    tile_{1,2,5,6,7,8}/masks/image_part_00{1..9}.png    colour-coded masks

Masks are decoded by colour (the dataset's classes.json is wrong, these are
the real colours): building #3C1098, land #8429F6, road #6EC1E4, vegetation
#FEDD3A, water #E2A929, unlabeled #9B9B9B (and a few #000000 pixels).  Unlabeled
and black pixels, and any pixel farther than ``COLOR_TOL`` from every known
colour, get the ignore label 255.  tile_2 masks are paletted PNGs whose palette
order differs from image to image, so they are always converted to RGB through
their own palette before the colour lookup.

Split: by tile (the 9 images of a tile are neighbouring crops of one scene):
tile_8 is held out for validation / model selection, the others are used for
training.  tile_7/image_part_008 is excluded from training because its mask is
a single "land" polygon covering the whole image although the image visibly
contains roads and buildings (``--keep-bad-masks`` keeps it).

Runtime input convention (the model follows what satseg does): NCHW float32,
channels R,G,B; ``x = DN * input_scale`` with ``input_scale = 1/255``, then
``(x - mean[c]) / std[c]`` with the mean/std stored in the metadata.  Output:
NCHW float32 probabilities ``[N, 5, H, W]`` (Softmax over channels is part of
the graph).  H and W must be multiples of 32.

Reproducibility: fixed seeds (python ``random``, numpy, torch), all data
sampling comes from one seeded ``numpy.random.RandomState`` in the main process
(no DataLoader workers), so the data order is deterministic.  Checkpoints
(``--work-dir``) contain the RNG states; ``--resume`` continues a crashed run.
"""

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

CLASS_NAMES = ["building", "land", "road", "vegetation", "water"]
CLASS_COLORS = ["#3C1098", "#8429F6", "#6EC1E4", "#FEDD3A", "#E2A929"]
IGNORED_COLORS = ["#9B9B9B", "#000000"]  # unlabeled, stray black pixels
IGNORE_INDEX = 255
COLOR_TOL = 30.0  # max Euclidean RGB distance to accept a colour match
NUM_CLASSES = len(CLASS_NAMES)

TRAIN_TILES = [1, 2, 5, 6, 7]
VAL_TILES = [8]
BAD_MASKS = {(7, 8)}  # (tile, image): mask is one 'land' polygon, not annotated
INPUT_SCALE = 1.0 / 255.0

# The shared data folder sits beside the repository.
DEFAULT_DATA = os.path.join(os.path.dirname(REPO_ROOT), "shared", "data", "training", "dubai")
DEFAULT_OUT = os.path.join(REPO_ROOT, "models", "aerial-landcover")
DEFAULT_WORK = "/tmp/aerial-landcover-work"

# Assumed ground resolution (cm/px). The dataset does not publish it; MBRSC
# DubaiSat-2 pan-sharpened imagery is ~1 m and houses span ~15-40 px.
RESOLUTION_CM = 100
TILE_SIZE = 512
TILES_OVERLAP = 12.5  # percent of the tile


# ----------------------------------------------------------------------------
# Logging
# ----------------------------------------------------------------------------
_LOG_FILE = None


def log(*args):
    msg = time.strftime("%Y-%m-%d %H:%M:%S") + " " + " ".join(str(a) for a in args)
    print(msg, flush=True)
    if _LOG_FILE is not None:
        with open(_LOG_FILE, "a") as f:
            f.write(msg + "\n")


# ----------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------
def hex_to_rgb(h):
    h = h.lstrip("#")
    return [int(h[i:i + 2], 16) for i in (0, 2, 4)]


def decode_mask(path):
    """Colour mask -> uint8 label map (0..4, IGNORE_INDEX for unlabeled)."""
    m = Image.open(path)
    # Paletted masks (tile_2) are resolved through their own palette.
    rgb = np.asarray(m.convert("RGB"), dtype=np.int32)
    palette = np.array([hex_to_rgb(c) for c in CLASS_COLORS + IGNORED_COLORS], dtype=np.int32)
    labels_of_palette = np.array(list(range(NUM_CLASSES)) + [IGNORE_INDEX] * len(IGNORED_COLORS),
                                 dtype=np.uint8)
    # Work on unique colours only (masks have a handful of colours).
    flat = rgb.reshape(-1, 3)
    key = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    uniq, inv = np.unique(key, return_inverse=True)
    ucol = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=1)
    d = np.sqrt(((ucol[:, None, :] - palette[None, :, :]) ** 2).sum(-1))
    nearest = d.argmin(1)
    ulab = labels_of_palette[nearest].copy()
    ulab[d.min(1) > COLOR_TOL] = IGNORE_INDEX
    return ulab[inv].reshape(rgb.shape[:2])


def load_image(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)


def load_split(data_dir, tiles, skip_bad=True):
    items = []
    for t in tiles:
        for i in range(1, 10):
            if skip_bad and (t, i) in BAD_MASKS:
                log(f"  skipping tile_{t}/image_part_{i:03d} (mask not annotated)")
                continue
            ip = os.path.join(data_dir, f"tile_{t}", "images", f"image_part_{i:03d}.jpg")
            mp = os.path.join(data_dir, f"tile_{t}", "masks", f"image_part_{i:03d}.png")
            img = load_image(ip)
            lab = decode_mask(mp)
            if img.shape[:2] != lab.shape:
                raise RuntimeError(f"size mismatch {ip} {img.shape} vs {lab.shape}")
            items.append({"name": f"tile_{t}/image_part_{i:03d}", "img": img, "lab": lab})
    return items


def compute_mean_std(items):
    s = np.zeros(3)
    s2 = np.zeros(3)
    n = 0
    for it in items:
        x = it["img"].reshape(-1, 3).astype(np.float64) * INPUT_SCALE
        s += x.sum(0)
        s2 += (x ** 2).sum(0)
        n += x.shape[0]
    mean = s / n
    std = np.sqrt(s2 / n - mean ** 2)
    # Round so that exactly the stored numbers are used in training.
    return [round(float(v), 4) for v in mean], [round(float(v), 4) for v in std]


def class_pixel_counts(items):
    c = np.zeros(NUM_CLASSES, dtype=np.int64)
    for it in items:
        b = np.bincount(it["lab"].ravel(), minlength=256)
        c += b[:NUM_CLASSES]
    return c


class CropSampler:
    """Deterministic random crops with scale/flip/rot90/colour augmentation."""

    def __init__(self, items, crop, rng, scale_range=(0.75, 1.333)):
        self.items = items
        self.crop = crop
        self.rng = rng
        self.scale_range = scale_range
        area = np.array([it["lab"].size for it in items], dtype=np.float64)
        # Compromise between per-image and per-pixel sampling: tile_7 images
        # are 4-14x larger than others and would otherwise dominate.
        w = np.sqrt(area)
        self.p = w / w.sum()

    def sample(self):
        rng = self.rng
        it = self.items[rng.choice(len(self.items), p=self.p)]
        img, lab = it["img"], it["lab"]
        H, W = lab.shape
        lo, hi = self.scale_range
        s = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        win = int(round(self.crop / s))
        win = min(win, H, W)
        for _ in range(10):  # avoid crops that are (almost) entirely ignored
            y = rng.randint(0, H - win + 1)
            x = rng.randint(0, W - win + 1)
            l = lab[y:y + win, x:x + win]
            if (l != IGNORE_INDEX).mean() > 0.3:
                break
        im = img[y:y + win, x:x + win]
        if win != self.crop:
            im = np.asarray(Image.fromarray(im).resize((self.crop, self.crop), Image.BILINEAR))
            l = np.asarray(Image.fromarray(l).resize((self.crop, self.crop), Image.NEAREST))
        im = im.astype(np.float32) * INPUT_SCALE
        l = l.copy()
        # geometric
        k = rng.randint(4)
        if k:
            im = np.rot90(im, k, axes=(0, 1))
            l = np.rot90(l, k, axes=(0, 1))
        if rng.rand() < 0.5:
            im = im[:, ::-1]
            l = l[:, ::-1]
        if rng.rand() < 0.5:
            im = im[::-1]
            l = l[::-1]
        # photometric (on the 0..1 scale)
        contrast = rng.uniform(0.75, 1.25)
        brightness = rng.uniform(-0.1, 0.1)
        sat = rng.uniform(0.8, 1.2)
        gamma = math.exp(rng.uniform(-0.2, 0.2))
        chan = rng.uniform(0.95, 1.05, size=3).astype(np.float32)
        m = im.mean()
        im = (im - m) * contrast + m + brightness
        gray = im.mean(axis=2, keepdims=True)
        im = (im - gray) * sat + gray
        im = im * chan
        im = np.clip(im, 0.0, 1.0) ** gamma
        if rng.rand() < 0.3:
            im = im + rng.normal(0, 0.01, size=im.shape).astype(np.float32)
        return np.ascontiguousarray(im, dtype=np.float32), np.ascontiguousarray(l)

    def batch(self, n, mean, std):
        xs, ys = [], []
        for _ in range(n):
            x, y = self.sample()
            xs.append(x)
            ys.append(y)
        x = np.stack(xs).transpose(0, 3, 1, 2)
        x = (x - np.array(mean, np.float32)[None, :, None, None]) / np.array(std, np.float32)[None, :, None, None]
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.stack(ys).astype(np.int64))


# ----------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------
class ConvBNReLU(nn.Sequential):
    def __init__(self, cin, cout, k=3):
        super().__init__(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SepConvBNReLU(nn.Sequential):
    """Depthwise 3x3 + pointwise 1x1, each with BN (MobileNet style)."""

    def __init__(self, cin, cout):
        super().__init__(nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
                         nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
                         nn.Conv2d(cin, cout, 1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Block(nn.Module):
    """Two convs with a residual 1x1 shortcut."""

    def __init__(self, cin, cout, sep=False):
        super().__init__()
        C = SepConvBNReLU if sep else ConvBNReLU
        self.c1 = C(cin, cout)
        self.c2 = C(cout, cout)
        self.short = (nn.Identity() if cin == cout else
                      nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x):
        return self.c2(self.c1(x)) + self.short(x)


class SmallUNet(nn.Module):
    """U-Net with 4 down levels (5 resolutions, bottom at 1/16). Each level is a
    residual block of two 3x3 conv-BN-ReLU; the decoder upsamples bilinearly
    after a 1x1 conv and concatenates the skip connection. Levels >= sep_from
    use depthwise-separable convs (off by default: slower on CPU). Inputs must
    have H and W divisible by 16 (satseg uses multiples of 32).
    """

    def __init__(self, in_ch=3, num_classes=NUM_CLASSES, widths=(16, 32, 64, 128, 256),
                 sep_from=5):
        super().__init__()
        self.stem = ConvBNReLU(in_ch, widths[0])
        self.enc = nn.ModuleList()
        cin = widths[0]
        for i, w in enumerate(widths):
            self.enc.append(Block(cin, w, sep=i >= sep_from))
            cin = w
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in range(len(widths) - 1, 0, -1):
            # 1x1 conv at low resolution, then bilinear x2 (ConvTranspose2d
            # has no fast CPU kernel in torch 1.13 and was 45 % of step time).
            self.up.append(nn.Sequential(nn.Conv2d(widths[i], widths[i - 1], 1, bias=False),
                                         nn.BatchNorm2d(widths[i - 1]), nn.ReLU(inplace=True),
                                         nn.Upsample(scale_factor=2, mode="bilinear",
                                                     align_corners=False)))
            self.dec.append(Block(2 * widths[i - 1], widths[i - 1], sep=(i - 1) >= sep_from))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x):
        x = self.stem(x)
        skips = []
        for i, enc in enumerate(self.enc):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = enc(x)
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(self.up, self.dec):
            x = up(x)
            x = dec(torch.cat([x, skips.pop()], dim=1))
        return self.head(x)


class ExportWrapper(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.softmax(self.net(x), dim=1)


def count_params(m):
    return sum(p.numel() for p in m.parameters())


# ----------------------------------------------------------------------------
# Loss
# ----------------------------------------------------------------------------
def dice_loss(logits, target, eps=1.0):
    valid = (target != IGNORE_INDEX)
    prob = torch.softmax(logits, dim=1)
    t = target.clone()
    t[~valid] = 0
    onehot = F.one_hot(t, NUM_CLASSES).permute(0, 3, 1, 2).float()
    v = valid.unsqueeze(1).float()
    prob = prob * v
    onehot = onehot * v
    inter = (prob * onehot).sum((0, 2, 3))
    denom = prob.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
    dice = (2 * inter + eps) / (denom + eps)
    present = onehot.sum((0, 2, 3)) > 0
    if present.sum() == 0:
        return logits.sum() * 0
    return (1 - dice[present]).mean()


# ----------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------
def normalize_image(img, mean, std):
    x = img.astype(np.float32) * np.float32(INPUT_SCALE)
    x = (x - np.array(mean, np.float32)) / np.array(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


@torch.no_grad()
def predict_whole(model, img, mean, std):
    """Whole image, reflect-padded (right/bottom) to a multiple of 32."""
    H, W = img.shape[:2]
    x = normalize_image(img, mean, std).contiguous(memory_format=torch.channels_last)
    ph, pw = (-H) % 32, (-W) % 32
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect")
    p = torch.softmax(model(x), dim=1)[0, :, :H, :W]
    return np.ascontiguousarray(p.numpy())


@torch.no_grad()
def predict_tiled(model, img, mean, std, tile=TILE_SIZE, overlap_pct=TILES_OVERLAP):
    """Sliding window (runtime-like): tiles of `tile` px with the given
    overlap, probabilities averaged where tiles overlap."""
    H, W = img.shape[:2]
    ov = int(round(tile * overlap_pct / 100.0))
    stride = tile - ov
    x = normalize_image(img, mean, std)
    nH = max(1, math.ceil((H - tile) / stride) + 1) if H > tile else 1
    nW = max(1, math.ceil((W - tile) / stride) + 1) if W > tile else 1
    PH = max(tile, (nH - 1) * stride + tile)
    PW = max(tile, (nW - 1) * stride + tile)
    x = F.pad(x, (0, PW - W, 0, PH - H), mode="reflect") if (PH > H or PW > W) else x
    acc = torch.zeros(NUM_CLASSES, PH, PW)
    cnt = torch.zeros(1, PH, PW)
    for i in range(nH):
        for j in range(nW):
            y0, x0 = i * stride, j * stride
            xt = x[:, :, y0:y0 + tile, x0:x0 + tile].contiguous(memory_format=torch.channels_last)
            p = torch.softmax(model(xt), dim=1)[0]
            acc[:, y0:y0 + tile, x0:x0 + tile] += p
            cnt[:, y0:y0 + tile, x0:x0 + tile] += 1
    return (acc / cnt)[:, :H, :W].numpy()


def confusion(pred, lab):
    v = lab != IGNORE_INDEX
    return np.bincount(lab[v].astype(np.int64) * NUM_CLASSES + pred[v].astype(np.int64),
                       minlength=NUM_CLASSES ** 2).reshape(NUM_CLASSES, NUM_CLASSES)


def iou_from_conf(cm):
    """Per-class IoU; NaN for classes absent from both label and prediction."""
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    return iou


def summarize(cm):
    iou = iou_from_conf(cm)
    return {
        "iou": {c: (None if np.isnan(v) else round(float(v), 4)) for c, v in zip(CLASS_NAMES, iou)},
        "miou": round(float(np.nanmean(iou)), 4),
        "pixel_accuracy": round(float(np.diag(cm).sum() / max(cm.sum(), 1)), 4),
        "labeled_pixels": int(cm.sum()),
    }


def evaluate(model, items, mean, std, mode="whole", per_image=False):
    model.eval()
    total = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    per = {}
    for it in items:
        fn = predict_whole if mode == "whole" else predict_tiled
        p = fn(model, it["img"], mean, std)
        cm = confusion(p.argmax(0), it["lab"])
        total += cm
        if per_image:
            per[it["name"]] = summarize(cm)
    out = summarize(total)
    out["confusion_matrix_rows_true_cols_pred"] = total.tolist()
    if per_image:
        out["per_image"] = per
    return out


# ----------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------
def jsonc(v):
    """Compact JSON (no spaces), the format of the satseg metadata values."""
    return json.dumps(v, separators=(",", ":"))


def export_onnx(net, path, mean, std, opset=17):
    net = net.eval().to(memory_format=torch.contiguous_format)
    wrapper = ExportWrapper(net).eval()
    dummy = torch.zeros(1, 3, 256, 256)
    dyn = {0: "batch", 2: "height", 3: "width"}
    tmp = path + ".tmp"
    try:
        torch.onnx.export(wrapper, dummy, tmp, opset_version=opset, input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": dyn, "output": dyn},
                          do_constant_folding=True)
    except Exception as e:  # pragma: no cover - fallback for older exporters
        log(f"opset {opset} export failed ({e}); retrying with opset 13")
        opset = 13
        torch.onnx.export(wrapper, dummy, tmp, opset_version=opset, input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": dyn, "output": dyn},
                          do_constant_folding=True)
    import onnx
    model = onnx.load(tmp)
    # model_type and class_names in the form QGIS Deepness reads (json.loads of each value).
    meta = {
        "model_type": json.dumps("Segmentor"),
        "class_names": jsonc({str(i): n for i, n in enumerate(CLASS_NAMES)}),
        "class_colors": jsonc(CLASS_COLORS),
        "resolution": str(RESOLUTION_CM),
        "tiles_overlap": str(TILES_OVERLAP),
        "tile_size": str(TILE_SIZE),
        "standardization_mean": jsonc(mean),
        "standardization_std": jsonc(std),
        "input_scale": repr(INPUT_SCALE),
        "bands": jsonc(["red", "green", "blue"]),
        "description": ("Land-cover segmentation of ~1 m RGB aerial/satellite imagery into building, "
                        "land (unpaved), road, vegetation and water; trained on the Dubai aerial "
                        "imagery dataset (Humans in the Loop / MBRSC)."),
        "license": "CC0-1.0 (training data); model weights MIT",
    }
    del model.metadata_props[:]
    for k, v in meta.items():
        p = model.metadata_props.add()
        p.key = k
        p.value = v
    onnx.checker.check_model(model)
    onnx.save(model, path)
    os.remove(tmp)
    # Shape check: output must be [batch, 5, height, width].
    inf = onnx.shape_inference.infer_shapes(onnx.load(path))
    dims = [d.dim_param or d.dim_value for d in inf.graph.output[0].type.tensor_type.shape.dim]
    log(f"exported {path} (opset {opset}, {os.path.getsize(path) / 1e6:.2f} MB); "
        f"inferred output shape {dims}")
    if dims != ["batch", NUM_CLASSES, "height", "width"]:
        raise RuntimeError(f"unexpected ONNX output shape {dims}")
    return meta, opset


NODE_CHECK = r"""
const ort = require(process.argv[2]);
const fs = require('fs');
(async () => {
  const [model, inPath, outPath, h, w] = process.argv.slice(3);
  const H = +h, W = +w;
  const s = await ort.InferenceSession.create(model);
  const buf = fs.readFileSync(inPath);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const o = await s.run({ input: new ort.Tensor('float32', data, [1, 3, H, W]) });
  const out = o.output;
  fs.writeFileSync(outPath, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
  console.log(JSON.stringify({ dims: out.dims, inputs: s.inputNames, outputs: s.outputNames }));
})().catch(e => { console.error(e); process.exit(1); });
"""


def node_check(onnx_path, net, img, mean, std):
    """Run the exported model in onnxruntime-node on a real image and compare
    with PyTorch. Returns a dict or None when node/onnxruntime-node is absent."""
    ort_dir = os.path.join(REPO_ROOT, "node_modules", "onnxruntime-node")
    node = shutil.which("node")
    if node is None or not os.path.isdir(ort_dir):
        log("node or onnxruntime-node not found; skipping onnxruntime check")
        return None
    H, W = img.shape[0] // 32 * 32, img.shape[1] // 32 * 32
    x = normalize_image(img[:H, :W], mean, std)
    with tempfile.TemporaryDirectory() as td:
        js = os.path.join(td, "check.cjs")
        with open(js, "w") as f:
            f.write(NODE_CHECK)
        ip, op = os.path.join(td, "in.bin"), os.path.join(td, "out.bin")
        x.numpy().astype(np.float32).tofile(ip)
        r = subprocess.run([node, js, ort_dir, onnx_path, ip, op, str(H), str(W)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("onnxruntime-node check failed: " + r.stderr)
        info = json.loads(r.stdout.strip().splitlines()[-1])
        o = np.fromfile(op, dtype=np.float32).reshape(1, NUM_CLASSES, H, W)
    with torch.no_grad():
        t = ExportWrapper(net).eval()(x).numpy()
    res = {
        "input_shape": [1, 3, H, W],
        "output_dims": info["dims"],
        "max_abs_diff_vs_torch": float(np.abs(o - t).max()),
        "argmax_agreement": float((o.argmax(1) == t.argmax(1)).mean()),
        "max_abs_sum_minus_1": float(np.abs(o.sum(1) - 1).max()),
    }
    log("onnxruntime-node check:", json.dumps(res))
    if res["output_dims"] != [1, NUM_CLASSES, H, W] or res["max_abs_sum_minus_1"] > 1e-4:
        raise RuntimeError("onnxruntime-node output check failed")
    return res


# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------
def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def main():
    global _LOG_FILE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--out", default=DEFAULT_OUT, help="model directory (model.onnx, metrics.json)")
    ap.add_argument("--work-dir", default=DEFAULT_WORK, help="checkpoints")
    ap.add_argument("--log", default=None, help="also append the log to this file")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=60, help="'epoch' = --iters-per-epoch iterations")
    ap.add_argument("--iters-per-epoch", type=int, default=100)
    ap.add_argument("--val-every", type=int, default=4, help="validate every N epochs")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--warmup-iters", type=int, default=200)
    ap.add_argument("--dice-weight", type=float, default=0.5)
    ap.add_argument("--widths", default="16,32,64,128,256")
    ap.add_argument("--sep-from", type=int, default=5,
                    help="first level using depthwise-separable convs (5 = none; they are slow in oneDNN)")
    ap.add_argument("--resume", action="store_true", help="continue from work-dir/last.pt")
    ap.add_argument("--keep-bad-masks", action="store_true")
    ap.add_argument("--val-limit", type=int, default=0, help="(smoke tests) only N val images")
    ap.add_argument("--skip-final-tiled", action="store_true", help="skip the sliding-window eval")
    args = ap.parse_args()
    _LOG_FILE = args.log

    torch.set_num_threads(args.threads)
    set_seed(args.seed)
    os.makedirs(args.work_dir, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    t_start = time.time()
    log("args:", json.dumps(vars(args)))
    log(f"torch {torch.__version__}, threads {torch.get_num_threads()}")

    log("loading training tiles", TRAIN_TILES)
    train = load_split(args.data, TRAIN_TILES, skip_bad=not args.keep_bad_masks)
    log("loading validation tiles", VAL_TILES)
    val = load_split(args.data, VAL_TILES, skip_bad=False)
    if args.val_limit:
        val = val[:args.val_limit]
    mean, std = compute_mean_std(train)
    counts = class_pixel_counts(train)
    freq = counts / counts.sum()
    w = 1.0 / np.sqrt(freq)
    w = w / w.mean()
    log(f"train images {len(train)}, val images {len(val)}")
    log("mean", mean, "std", std)
    log("train class pixels", dict(zip(CLASS_NAMES, counts.tolist())))
    log("class weights (inverse sqrt freq)", dict(zip(CLASS_NAMES, np.round(w, 3).tolist())))
    class_w = torch.tensor(w, dtype=torch.float32)

    widths = tuple(int(v) for v in args.widths.split(","))
    net = SmallUNet(widths=widths, sep_from=args.sep_from)
    # channels_last: 2-3x faster oneDNN convs on CPU for the narrow full-res layers
    net = net.to(memory_format=torch.channels_last)
    n_params = count_params(net)
    log(f"model SmallUNet widths={widths} sep_from={args.sep_from}: {n_params:,} parameters")
    if n_params > 3_000_000:
        raise SystemExit("model too large (> 3 M parameters)")

    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    total_iters = args.epochs * args.iters_per_epoch

    def lr_at(it):
        if it < args.warmup_iters:
            return args.lr * (it + 1) / args.warmup_iters
        p = (it - args.warmup_iters) / max(1, total_iters - args.warmup_iters)
        return args.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * p)))

    data_rng = np.random.RandomState(args.seed)
    sampler = CropSampler(train, args.crop, data_rng)
    start_epoch = 0
    best = {"miou": -1.0, "epoch": None}
    history = []
    train_seconds = 0.0
    last_ckpt = os.path.join(args.work_dir, "last.pt")
    best_ckpt = os.path.join(args.work_dir, "best.pt")
    if args.resume and os.path.exists(last_ckpt):
        ck = torch.load(last_ckpt)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        data_rng.set_state(ck["data_rng"])
        torch.set_rng_state(ck["torch_rng"])
        start_epoch = ck["epoch"]
        best = ck["best"]
        history = ck["history"]
        train_seconds = ck.get("train_seconds", 0.0)
        log(f"resumed from {last_ckpt} at epoch {start_epoch}")

    crit = nn.CrossEntropyLoss(weight=class_w, ignore_index=IGNORE_INDEX)
    for epoch in range(start_epoch, args.epochs):
        net.train()
        t0 = time.time()
        s_loss = s_ce = s_dice = 0.0
        t_data = 0.0
        for k in range(args.iters_per_epoch):
            it = epoch * args.iters_per_epoch + k
            for g in opt.param_groups:
                g["lr"] = lr_at(it)
            td = time.time()
            x, y = sampler.batch(args.batch, mean, std)
            x = x.contiguous(memory_format=torch.channels_last)
            t_data += time.time() - td
            logits = net(x)
            ce = crit(logits, y)
            dl = dice_loss(logits, y) if args.dice_weight > 0 else torch.zeros(())
            loss = ce + args.dice_weight * dl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if not torch.isfinite(loss):
                raise RuntimeError(f"non-finite loss at iteration {it}")
            s_loss += loss.item()
            s_ce += ce.item()
            s_dice += float(dl)
        dt = time.time() - t0
        train_seconds += dt
        n = args.iters_per_epoch
        rec = {"epoch": epoch + 1, "iters": (epoch + 1) * n, "loss": round(s_loss / n, 4),
               "ce": round(s_ce / n, 4), "dice": round(s_dice / n, 4), "lr": lr_at(it),
               "sec": round(dt, 1), "data_sec": round(t_data, 1)}
        msg = (f"epoch {epoch + 1}/{args.epochs} it {(epoch + 1) * n} loss {rec['loss']:.4f} "
               f"(ce {rec['ce']:.4f} dice {rec['dice']:.4f}) lr {rec['lr']:.2e} "
               f"{dt:.0f}s ({n * args.batch / dt:.2f} img/s, data {t_data:.0f}s)")
        if (epoch + 1) % args.val_every == 0 or epoch + 1 == args.epochs:
            tv = time.time()
            ev = evaluate(net, val, mean, std, mode="whole")
            rec["val_miou"] = ev["miou"]
            rec["val_iou"] = ev["iou"]
            rec["val_acc"] = ev["pixel_accuracy"]
            msg += (f" | val mIoU {ev['miou']:.4f} acc {ev['pixel_accuracy']:.4f} "
                    f"{json.dumps(ev['iou'])} ({time.time() - tv:.0f}s)")
            if ev["miou"] > best["miou"]:
                best = {"miou": ev["miou"], "epoch": epoch + 1}
                torch.save({"model": net.state_dict(), "epoch": epoch + 1, "val": ev,
                            "mean": mean, "std": std, "widths": widths,
                            "sep_from": args.sep_from}, best_ckpt)
                msg += " *best*"
        history.append(rec)
        log(msg)
        torch.save({"model": net.state_dict(), "opt": opt.state_dict(),
                    "data_rng": data_rng.get_state(), "torch_rng": torch.get_rng_state(),
                    "epoch": epoch + 1, "best": best, "history": history,
                    "train_seconds": train_seconds}, last_ckpt + ".tmp")
        os.replace(last_ckpt + ".tmp", last_ckpt)

    # ---------------- final evaluation + export ----------------
    log(f"training done: {train_seconds / 60:.1f} min of training loops; best epoch {best['epoch']} "
        f"val mIoU {best['miou']:.4f}")
    ck = torch.load(best_ckpt)
    net.load_state_dict(ck["model"])
    net.eval()
    log("final evaluation on", [v["name"] for v in val], "(whole image, padded to x32)")
    ev_whole = evaluate(net, val, mean, std, mode="whole", per_image=True)
    log("whole-image:", json.dumps({k: ev_whole[k] for k in ("iou", "miou", "pixel_accuracy")}))
    for name, r in ev_whole["per_image"].items():
        log(f"  {name}: mIoU {r['miou']:.4f} acc {r['pixel_accuracy']:.4f} {json.dumps(r['iou'])}")
    ev_tiled = None
    if not args.skip_final_tiled:
        ev_tiled = evaluate(net, val, mean, std, mode="tiled", per_image=True)
        log(f"tiled ({TILE_SIZE}px, {TILES_OVERLAP}% overlap):",
            json.dumps({k: ev_tiled[k] for k in ("iou", "miou", "pixel_accuracy")}))

    onnx_path = os.path.join(args.out, "model.onnx")
    meta, opset = export_onnx(net, onnx_path, mean, std)
    nc = node_check(onnx_path, net, val[0]["img"], mean, std)

    metrics = {
        "model": "aerial-landcover",
        "dataset": "Semantic segmentation of aerial imagery (Dubai; Humans in the Loop / MBRSC), CC0-1.0",
        "split": {"train_tiles": TRAIN_TILES, "validation_tiles": VAL_TILES,
                  "excluded_training_images": ([] if args.keep_bad_masks else
                                               [f"tile_{t}/image_part_{i:03d}" for t, i in sorted(BAD_MASKS)])},
        "classes": CLASS_NAMES,
        "ignored": "unlabeled (#9B9B9B) and black (#000000) pixels are excluded from loss and metrics",
        "metric_notes": ("IoU from the confusion matrix over all labeled pixels; per-image mIoU averages "
                         "the classes present in the label or the prediction of that image (null = absent "
                         "from both). 'whole_image': full-resolution image reflect-padded to a multiple "
                         "of 32, one forward pass; 'tiled': sliding window with tile_size/tiles_overlap of "
                         "the metadata, probabilities averaged in overlaps. Preprocessing identical to the "
                         "ONNX runtime convention (DN/255, then (x-mean)/std)."),
        "selection": f"best of {args.epochs // args.val_every} validations on tile_8 by mIoU (whole image)",
        "best_epoch": best["epoch"],
        "epochs": args.epochs,
        "iterations": args.epochs * args.iters_per_epoch,
        "batch_size": args.batch,
        "crop": args.crop,
        "parameters": n_params,
        "train_wall_seconds_training_loops": round(train_seconds, 1),
        "total_wall_seconds_this_run": round(time.time() - t_start, 1),
        "whole_image": ev_whole,
        "tiled": ev_tiled,
        "onnx": {"opset": opset, "onnxruntime_node_check": nc},
        "metadata": meta,
        "history": history,
    }
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    log(f"wrote {os.path.join(args.out, 'metrics.json')}; total {(time.time() - t_start) / 60:.1f} min")


if __name__ == "__main__":
    main()

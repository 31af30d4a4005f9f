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
(no DataLoader workers), so the data order is deterministic.  A run that dies
is started again; ``--save-state`` keeps the selected weights for
``--init-from`` (fine-tuning) and ``--from-state`` (evaluate and export only).
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


class TorchCropSampler:
    """Random crops with scale, rotation, flip and colour augmentation, made
    with torch on the training device (GPU when there is one).

    Why not CropSampler: per-crop PIL resizes in one Python process feed a
    small U-Net on 2 CPU cores, but they starve a GPU. Here the whole training
    set sits on the device and each crop is one affine_grid + grid_sample
    (bilinear for the image, nearest for the labels), so rotations by any
    angle and scale jitter cost no more than a plain crop.

    Every random decision comes from one seeded numpy RandomState, so the
    sequence of crops is reproducible for a given seed and set of flags.
    """

    def __init__(self, items, crop, rng, device, scale_range=(0.75, 1.333), any_angle=False,
                 strong_colour=False):
        self.crop = crop
        self.rng = rng
        self.device = device
        self.scale_range = scale_range
        self.any_angle = any_angle
        self.strong_colour = strong_colour
        # Images as float 0..1 (grid_sample needs float); labels as float label+1 so that
        # the zero padding outside the image decodes to "ignore" (0 - 1 < 0).
        self.imgs = [torch.from_numpy(it["img"]).to(device).permute(2, 0, 1).float().mul_(INPUT_SCALE)[None]
                     for it in items]
        self.labs = [(torch.from_numpy(it["lab"]).to(device).float() + 1)[None, None] for it in items]
        area = np.array([it["lab"].size for it in items], dtype=np.float64)
        w = np.sqrt(area)  # see CropSampler: tile_7 images would otherwise dominate
        self.p = w / w.sum()
        yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
        self.yiq = (self._to_device(yiq), self._to_device(np.linalg.inv(yiq)))
        self.norm = None

    def _theta(self, H, W):
        """Affine map (2x3, numpy) from output crop coordinates to normalised source coordinates."""
        rng, C = self.rng, self.crop
        lo, hi = self.scale_range
        s = math.exp(rng.uniform(math.log(lo), math.log(hi)))  # output px per source px
        if self.any_angle:
            a = rng.uniform(0, 2 * math.pi)
        else:
            a = rng.randint(4) * math.pi / 2
        ca, sa = round(math.cos(a), 12), round(math.sin(a), 12)
        fx = -1.0 if rng.rand() < 0.5 else 1.0
        fy = -1.0 if rng.rand() < 0.5 else 1.0
        m = np.array([[ca * fx, -sa * fy], [sa * fx, ca * fy]])
        # Half extent of the rotated window in source pixels; keep it inside the image
        # when it fits, else centre it (the outside is padded and ignored).
        r = (C / 2) / s * (abs(ca) + abs(sa))
        cx = rng.uniform(r, W - r) if W > 2 * r else W / 2
        cy = rng.uniform(r, H - r) if H > 2 * r else H / 2
        return np.array([[C * m[0, 0] / (W * s), C * m[0, 1] / (W * s), 2 * cx / W - 1],
                         [C * m[1, 0] / (H * s), C * m[1, 1] / (H * s), 2 * cy / H - 1]])

    def _to_device(self, a):
        # One host-to-device copy per batch: each small copy would wait for the GPU queue.
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(self.device)

    def _crops(self, n):
        """n crops: (images [n,3,C,C] 0..1, labels [n,C,C]); all geometry drawn first, sent at once."""
        C = self.crop
        idx = [int(self.rng.choice(len(self.imgs), p=self.p)) for _ in range(n)]
        thetas = [self._theta(self.labs[i].shape[2], self.labs[i].shape[3]) for i in idx]
        grid = F.affine_grid(self._to_device(np.stack(thetas)), [n, 1, C, C], align_corners=False)
        xs, ys = [], []
        for k, i in enumerate(idx):
            g = grid[k:k + 1]
            y = F.grid_sample(self.labs[i], g, mode="nearest", padding_mode="zeros", align_corners=False)
            y = y[0, 0].round().long() - 1
            y[(y < 0) | (y >= NUM_CLASSES)] = IGNORE_INDEX
            ys.append(y)
            xs.append(F.grid_sample(self.imgs[i], g, mode="bilinear", padding_mode="zeros",
                                    align_corners=False)[0])
        return torch.stack(xs), torch.stack(ys)

    def _sample_batch(self, n):
        x, y = self._crops(n)
        # Redraw crops that are (almost) entirely ignored, up to 4 times.
        for _ in range(4):
            bad = ((y != IGNORE_INDEX).float().mean((1, 2)) <= 0.3).nonzero()[:, 0].cpu().tolist()
            if not bad:
                break
            x2, y2 = self._crops(len(bad))
            x[bad], y[bad] = x2, y2
        return x, y

    def _colour(self, x):
        """Photometric augmentation of a batch in 0..1 (per-sample factors)."""
        rng, B = self.rng, x.shape[0]
        dev = x.device
        strong = self.strong_colour
        cols = [rng.uniform(*((0.6, 1.4) if strong else (0.75, 1.25)), size=B),  # 0 contrast
                rng.uniform(*((-0.15, 0.15) if strong else (-0.1, 0.1)), size=B),  # 1 brightness
                rng.uniform(*((0.6, 1.4) if strong else (0.8, 1.2)), size=B),  # 2 saturation
                np.exp(rng.uniform(*((-0.3, 0.3) if strong else (-0.2, 0.2)), size=B)),  # 3 gamma
                rng.uniform(-0.35, 0.35, size=B),  # 4 hue (radians, about +-20 degrees)
                (rng.rand(B) < 0.3).astype(np.float64),  # 5 noise on/off
                rng.uniform(0.0, 0.03, size=B) if strong else np.full(B, 0.01)]  # 6 noise std
        gain = rng.uniform(*((0.85, 1.15) if strong else (0.95, 1.05)), size=(B, 3))
        blur = [(b, rng.uniform(0.5, 1.5)) for b in range(B) if strong and rng.rand() < 0.25]
        seed = int(rng.randint(0, 2 ** 31 - 1))
        prm = self._to_device(np.concatenate([np.stack(cols, 1), gain], 1))  # [B, 10]
        col = lambda j: prm[:, j].view(B, 1, 1, 1)
        m = x.mean((1, 2, 3), keepdim=True)
        x = (x - m) * col(0) + m + col(1)
        if strong:
            # Hue rotation in YIQ: other sensors and white balances shift hue, not only gain.
            yiq, yiq_inv = self.yiq
            q = torch.einsum("ij,bjhw->bihw", yiq, x)
            c, s_ = torch.cos(prm[:, 4]).view(B, 1, 1), torch.sin(prm[:, 4]).view(B, 1, 1)
            q = torch.stack([q[:, 0], q[:, 1] * c - q[:, 2] * s_, q[:, 1] * s_ + q[:, 2] * c], 1)
            x = torch.einsum("ij,bjhw->bihw", yiq_inv, q)
        gray = x.mean(1, keepdim=True)
        x = (x - gray) * col(2) + gray
        x = x * prm[:, 7:10].view(B, 3, 1, 1)
        x = x.clamp(0.0, 1.0) ** col(3)
        if blur:
            # Blur (softer optics, resampled imagery) on some crops.
            k = np.arange(-3, 4)
            gs = np.stack([np.exp(-k ** 2 / (2 * sigma ** 2)) for _, sigma in blur])
            gs = self._to_device(gs / gs.sum(1, keepdims=True))
            for (b, _), g in zip(blur, gs):
                xb = F.conv2d(F.pad(x[b:b + 1], (3, 3, 0, 0), mode="reflect"),
                              g.view(1, 1, 1, 7).repeat(3, 1, 1, 1), groups=3)
                xb = F.conv2d(F.pad(xb, (0, 0, 3, 3), mode="reflect"), g.view(1, 1, 7, 1).repeat(3, 1, 1, 1),
                              groups=3)
                x[b:b + 1] = xb
        gen = torch.Generator(device=dev)
        gen.manual_seed(seed)
        return x + col(5) * col(6) * torch.randn(x.shape, generator=gen, device=dev)

    def batch(self, n, mean, std):
        x, y = self._sample_batch(n)
        x = self._colour(x)
        if self.norm is None:
            self.norm = (self._to_device(mean).view(1, 3, 1, 1), self._to_device(std).view(1, 3, 1, 1))
        return (x - self.norm[0]) / self.norm[1], y


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


def focal_loss(logits, target, class_w, gamma=2.0):
    """Class-weighted focal loss: easy, confident pixels (most of the sand)
    count less, so rare classes and hard borders drive the gradient."""
    valid = target != IGNORE_INDEX
    if not valid.any():
        return logits.sum() * 0
    logp = F.log_softmax(logits.float(), dim=1)
    t = target.clone()
    t[~valid] = 0
    lp = logp.gather(1, t[:, None])[:, 0]
    w = class_w.to(logits.device)[t]
    fl = -w * (1 - lp.exp()) ** gamma * lp
    return fl[valid].sum() / w[valid].sum()


def lovasz_softmax(logits, target):
    """Lovasz-softmax (Berman et al. 2018): a convex surrogate of the
    per-class Jaccard loss, so the optimiser works on IoU itself. Computed
    over the whole batch, for the classes present in it."""
    valid = target != IGNORE_INDEX
    if not valid.any():
        return logits.sum() * 0
    prob = torch.softmax(logits.float(), dim=1).permute(0, 2, 3, 1)[valid]  # [P, C]
    lab = target[valid]
    losses = []
    for c in range(NUM_CLASSES):
        fg = (lab == c).float()
        if fg.sum() == 0:
            continue
        err = (fg - prob[:, c]).abs()
        err_s, order = torch.sort(err, descending=True)
        fg_s = fg[order]
        gts = fg_s.sum()
        inter = gts - fg_s.cumsum(0)
        union = gts + (1 - fg_s).cumsum(0)
        jac = 1.0 - inter / union
        jac = torch.cat([jac[:1], jac[1:] - jac[:-1]])
        losses.append(torch.dot(err_s, jac))
    return torch.stack(losses).mean()


class WeightEMA:
    """Exponential moving average of the weights (and BatchNorm statistics);
    validation and export use the averaged copy, which is smoother than the
    last step's weights."""

    def __init__(self, net, decay):
        import copy
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(net).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, net):
        # Warm-up: early on the average must not keep the random initial weights
        # (0.999 ** 1500 still leaves 22 % of them, which wrecks the copy).
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for e, p in zip(self.model.state_dict().values(), net.state_dict().values()):
            if e.dtype.is_floating_point:
                e.mul_(d).add_(p.detach(), alpha=1 - d)
            else:
                e.copy_(p)


# ----------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------
def normalize_image(img, mean, std):
    x = img.astype(np.float32) * np.float32(INPUT_SCALE)
    x = (x - np.array(mean, np.float32)) / np.array(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


def _device_of(model):
    return next(model.parameters()).device


def flip_tta(run, x):
    """Average the class probabilities of run() over the four flips of x
    (none, horizontal, vertical, both): flips are exact on the pixel grid, so
    the mean lines up pixel for pixel. This is what satseg's --tta does."""
    acc = None
    for dims in ((), (3,), (2,), (2, 3)):
        xi = torch.flip(x, dims) if dims else x
        p = run(xi)
        p = torch.flip(p, dims) if dims else p
        acc = p if acc is None else acc + p
    return acc / 4


@torch.no_grad()
def predict_whole(model, img, mean, std, tta=False):
    """Whole image, reflect-padded (right/bottom) to a multiple of 32."""
    H, W = img.shape[:2]
    dev = _device_of(model)
    x = normalize_image(img, mean, std).to(dev).contiguous(memory_format=torch.channels_last)
    ph, pw = (-H) % 32, (-W) % 32
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect")

    def run(xi):
        return torch.softmax(model(xi.contiguous(memory_format=torch.channels_last)).float(), dim=1)

    p = flip_tta(run, x) if tta else run(x)
    return np.ascontiguousarray(p[0, :, :H, :W].cpu().numpy())


@torch.no_grad()
def predict_tiled(model, img, mean, std, tile=TILE_SIZE, overlap_pct=TILES_OVERLAP, tta=False):
    """Sliding window (runtime-like): tiles of `tile` px with the given
    overlap, probabilities averaged where tiles overlap."""
    H, W = img.shape[:2]
    dev = _device_of(model)
    ov = int(round(tile * overlap_pct / 100.0))
    stride = tile - ov
    x = normalize_image(img, mean, std).to(dev)
    nH = max(1, math.ceil((H - tile) / stride) + 1) if H > tile else 1
    nW = max(1, math.ceil((W - tile) / stride) + 1) if W > tile else 1
    PH = max(tile, (nH - 1) * stride + tile)
    PW = max(tile, (nW - 1) * stride + tile)
    x = F.pad(x, (0, PW - W, 0, PH - H), mode="reflect") if (PH > H or PW > W) else x
    acc = torch.zeros(NUM_CLASSES, PH, PW, device=dev)
    cnt = torch.zeros(1, PH, PW, device=dev)

    def run(xi):
        return torch.softmax(model(xi.contiguous(memory_format=torch.channels_last)).float(), dim=1)

    for i in range(nH):
        for j in range(nW):
            y0, x0 = i * stride, j * stride
            xt = x[:, :, y0:y0 + tile, x0:x0 + tile]
            p = (flip_tta(run, xt) if tta else run(xt))[0]
            acc[:, y0:y0 + tile, x0:x0 + tile] += p
            cnt[:, y0:y0 + tile, x0:x0 + tile] += 1
    return (acc / cnt)[:, :H, :W].cpu().numpy()


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


def evaluate(model, items, mean, std, mode="whole", per_image=False, tta=False):
    model.eval()
    total = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    per = {}
    for it in items:
        fn = predict_whole if mode == "whole" else predict_tiled
        p = fn(model, it["img"], mean, std, tta=tta)
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


def pick_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def machine_name(device):
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__})"
    return f"CPU, {torch.get_num_threads()} threads (torch {torch.__version__})"


def build_net(widths, sep_from, device):
    net = SmallUNet(widths=widths, sep_from=sep_from)
    # channels_last: 2-3x faster oneDNN convs on CPU for the narrow full-res layers
    return net.to(device).to(memory_format=torch.channels_last)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--out", default=DEFAULT_OUT, help="model directory (model.onnx, metrics.json)")
    ap.add_argument("--log", default=None, help="also append the log to this file")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--amp", action="store_true", help="bfloat16 autocast on CUDA")
    # --- recipe ---
    ap.add_argument("--sampler", choices=["pil", "torch"], default="torch",
                    help="pil: the first model's numpy/PIL crops (rot90 only); torch: crops on the device")
    ap.add_argument("--any-angle", action="store_true", help="rotate crops by any angle (torch sampler)")
    ap.add_argument("--strong-colour", action="store_true",
                    help="wider colour jitter, hue rotation, blur and stronger noise (torch sampler)")
    ap.add_argument("--scale-min", type=float, default=0.75)
    ap.add_argument("--scale-max", type=float, default=1.333)
    ap.add_argument("--loss", choices=["ce_dice", "focal_lovasz"], default="ce_dice")
    ap.add_argument("--ema", type=float, default=0.0, help="weight EMA decay (0 = off)")
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--iters", type=int, default=0, help="total iterations (0: epochs x iters-per-epoch)")
    ap.add_argument("--epochs", type=int, default=60, help="'epoch' = --iters-per-epoch iterations")
    ap.add_argument("--iters-per-epoch", type=int, default=100)
    ap.add_argument("--time-budget", type=float, default=0.0,
                    help="seconds of training: measure the speed on the first iterations and set --iters "
                         "from it (the log prints the value, pass it as --iters to reproduce)")
    ap.add_argument("--start-together", default=None, metavar="DIR:N",
                    help="wait until N runs sharing DIR are ready, so that parallel runs on one GPU measure "
                         "their speed for --time-budget under the same load")
    ap.add_argument("--validations", type=int, default=15, help="validations on tile_8 during training")
    ap.add_argument("--stop-at", type=int, default=0,
                    help="stop after this many iterations, validating there, with the schedule and validations "
                         "still planned for --iters: repeats a time-budgeted run that was cut (0 = off)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--warmup-iters", type=int, default=200)
    ap.add_argument("--dice-weight", type=float, default=0.5)
    ap.add_argument("--widths", default="16,32,64,128,256")
    ap.add_argument("--sep-from", type=int, default=5,
                    help="first level using depthwise-separable convs (5 = none; they are slow in oneDNN)")
    ap.add_argument("--max-params", type=int, default=4_000_000)
    ap.add_argument("--keep-bad-masks", action="store_true")
    ap.add_argument("--val-limit", type=int, default=0, help="(smoke tests) only N val images")
    ap.add_argument("--train-limit", type=int, default=0, help="(smoke tests) only N training images")
    # --- outputs ---
    ap.add_argument("--save-state", default=None,
                    help="write the selected weights and the training record here (for --from-state)")
    ap.add_argument("--init-from", default=None,
                    help="start from the weights of a --save-state file (same widths) instead of random ones")
    ap.add_argument("--from-state", default=None,
                    help="skip training: evaluate, export and write metrics for weights saved by --save-state")
    ap.add_argument("--no-export", action="store_true", help="train (and --save-state) only")
    ap.add_argument("--skip-final-tiled", action="store_true", help="skip the sliding-window eval")
    return ap.parse_args()


def check_stop_at(args, total_iters):
    """A --stop-at that cannot fire would leave a full run recorded as a cut one."""
    if args.stop_at < 0 or (args.stop_at and args.stop_at >= total_iters):
        raise SystemExit(f"--stop-at {args.stop_at} must be between 1 and the {total_iters} planned iterations "
                         f"(--iters, or what --time-budget works out); 0 turns it off")


def train(args, train_items, val, mean, std, counts, device):
    """Train with the recipe in args; returns (net with the selected weights, record)."""
    freq = counts / counts.sum()
    w = 1.0 / np.sqrt(freq)
    w = w / w.mean()
    log("class weights (inverse sqrt freq)", dict(zip(CLASS_NAMES, np.round(w, 3).tolist())))
    class_w = torch.tensor(w, dtype=torch.float32, device=device)

    widths = tuple(int(v) for v in args.widths.split(","))
    net = build_net(widths, args.sep_from, device)
    n_params = count_params(net)
    log(f"model SmallUNet widths={widths} sep_from={args.sep_from}: {n_params:,} parameters")
    init_record = None
    if args.init_from:
        ck = torch.load(args.init_from, map_location="cpu")
        net.load_state_dict(ck["model"])
        init_record = ck["record"]
        log(f"initial weights from {args.init_from} ({ck['record']['machine']}, "
            f"{ck['record']['iterations']} iterations)")
    if n_params > args.max_params:
        raise SystemExit(f"model too large (> {args.max_params} parameters)")
    ema = WeightEMA(net, args.ema) if args.ema > 0 else None

    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    total_iters = args.iters or args.epochs * args.iters_per_epoch

    if not args.time_budget:  # else once the budget has become a count
        check_stop_at(args, total_iters)

    def lr_at(it):
        if it < args.warmup_iters:
            return args.lr * (it + 1) / args.warmup_iters
        p = min(1.0, (it - args.warmup_iters) / max(1, total_iters - args.warmup_iters))
        return args.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * p)))

    data_rng = np.random.RandomState(args.seed)
    if args.sampler == "pil":
        sampler = CropSampler(train_items, args.crop, data_rng, scale_range=(args.scale_min, args.scale_max))
    else:
        sampler = TorchCropSampler(train_items, args.crop, data_rng, device,
                                   scale_range=(args.scale_min, args.scale_max),
                                   any_angle=args.any_angle, strong_colour=args.strong_colour)
    crit = nn.CrossEntropyLoss(weight=class_w, ignore_index=IGNORE_INDEX)
    if args.start_together:
        bdir, bn = args.start_together.rsplit(":", 1)
        os.makedirs(bdir, exist_ok=True)
        open(os.path.join(bdir, f"ready-{os.getpid()}"), "w").close()
        t_wait = time.time()
        while len([f for f in os.listdir(bdir) if f.startswith("ready-")]) < int(bn):
            if time.time() - t_wait > 300:
                log("start-together: gave up waiting for the other runs")
                break
            time.sleep(0.2)
    use_amp = args.amp and device.type == "cuda"

    def step_loss(logits, y):
        if args.loss == "ce_dice":
            a = crit(logits.float(), y)
            b = dice_loss(logits.float(), y) if args.dice_weight > 0 else torch.zeros((), device=device)
            return a + args.dice_weight * b, a, b
        a = focal_loss(logits, y, class_w)
        b = lovasz_softmax(logits, y)
        return a + b, a, b

    best = {"miou": -1.0, "iter": None}
    best_state = None
    history = []
    train_seconds = 0.0
    calibrated = args.time_budget <= 0
    t_run = time.time()
    it = 0
    window = {"sums": torch.zeros(3, device=device), "n": 0, "t": time.time(), "data": 0.0}
    val_every = max(1, total_iters // max(1, args.validations))
    while it < total_iters:
        net.train()
        for g in opt.param_groups:
            g["lr"] = lr_at(it)
        td = time.time()
        x, y = sampler.batch(args.batch, mean, std)
        x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        y = y.to(device, non_blocking=True)
        window["data"] += time.time() - td
        if use_amp:
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
                logits = net(x)
        else:
            logits = net(x)
        loss, a, b = step_loss(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if ema is not None:
            ema.update(net)
        it += 1
        # Summed on the device: a float() per step would wait for the GPU every iteration.
        window["sums"] = window["sums"] + torch.stack([loss.detach(), a.detach(), b.detach()]).float()
        window["n"] += 1
        if not calibrated and it == 60:
            # Speed from iterations 20-60 (after cuDNN autotuning and warm-up).
            rate = 40 / (time.time() - t20)
            total_iters = max(it + 1, int(rate * args.time_budget))
            val_every = max(1, total_iters // max(1, args.validations))
            calibrated = True
            log(f"time budget {args.time_budget:.0f}s at {rate:.2f} it/s: --iters {total_iters}")
            check_stop_at(args, total_iters)
        if it == 20:
            t20 = time.time()
        overrun = args.time_budget > 0 and time.time() - t_run > 1.3 * args.time_budget
        if overrun:
            log(f"time budget overrun at iteration {it}: stopping early")
        if it == args.stop_at:
            log(f"--stop-at {it}: stopping, {total_iters} planned")
        over = overrun or it == args.stop_at
        if it % val_every == 0 or it == total_iters or over:
            sums = (window["sums"] / window["n"]).cpu().tolist()
            if not all(math.isfinite(v) for v in sums):
                raise RuntimeError(f"non-finite loss before iteration {it}")
            dt = time.time() - window["t"]
            train_seconds += dt
            n = window["n"]
            rec = {"iter": it, "loss": round(sums[0], 4), "a": round(sums[1], 4), "b": round(sums[2], 4), "lr": lr_at(it - 1), "sec": round(dt, 1),
                   "data_sec": round(window["data"], 1)}
            tv = time.time()
            judge = ema.model if ema is not None else net
            ev = evaluate(judge, val, mean, std, mode="whole")
            rec.update(val_miou=ev["miou"], val_iou=ev["iou"], val_acc=ev["pixel_accuracy"],
                       val_sec=round(time.time() - tv, 1))
            msg = (f"it {it}/{total_iters} loss {rec['loss']:.4f} ({rec['a']:.4f} + {rec['b']:.4f}) "
                   f"lr {rec['lr']:.2e} {n / dt:.2f} it/s (data {window['data']:.0f}s) | val mIoU "
                   f"{ev['miou']:.4f} {json.dumps(ev['iou'])} ({rec['val_sec']:.0f}s)")
            if ev["miou"] > best["miou"]:
                best = {"miou": ev["miou"], "iter": it}
                best_state = {k: v.detach().cpu().clone() for k, v in judge.state_dict().items()}
                msg += " *best*"
            history.append(rec)
            log(msg)
            window = {"sums": torch.zeros(3, device=device), "n": 0, "t": time.time(), "data": 0.0}
        if over:
            break

    log(f"training done: {train_seconds / 60:.1f} min of training loops, {it} iterations; "
        f"best at iteration {best['iter']} val mIoU {best['miou']:.4f}")
    net.load_state_dict(best_state)
    net.eval()
    record = {
        "recipe": {k: getattr(args, k) for k in
                   ("init_from", "sampler", "any_angle", "strong_colour", "scale_min", "scale_max", "loss", "ema", "crop",
                    "batch", "lr", "weight_decay", "warmup_iters", "dice_weight", "widths", "sep_from", "seed",
                    "amp", "stop_at")},
        "iterations": it,
        # What the schedule and the validations were spaced for: more than `iterations` when a
        # time budget's guard or --stop-at cut the run.
        "planned_iterations": total_iters,
        "best_iteration": best["iter"],
        "selection": f"best of {len(history)} validations on tile_8 by whole-image mIoU",
        "parameters": n_params,
        "train_wall_seconds_training_loops": round(train_seconds, 1),
        "total_wall_seconds_training": round(time.time() - t_run, 1),
        "machine": machine_name(device),
        "history": history,
    }
    if init_record is not None:
        # A fine-tune's weights are only reproducible with the run they started from: keep its
        # record (recipe, iterations, validations; itself nested if it was a fine-tune too).
        record["init_record"] = init_record
    return net, record


def main():
    global _LOG_FILE
    args = parse_args()
    _LOG_FILE = args.log
    torch.set_num_threads(args.threads)
    set_seed(args.seed)
    device = pick_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    os.makedirs(args.out, exist_ok=True)
    t_start = time.time()
    log("args:", json.dumps(vars(args)))
    log(f"torch {torch.__version__}, device {machine_name(device)}")

    log("loading validation tiles", VAL_TILES)
    val = load_split(args.data, VAL_TILES, skip_bad=False)
    if args.val_limit:
        val = val[:args.val_limit]

    if args.from_state:
        ck = torch.load(args.from_state, map_location="cpu")
        record, mean, std = ck["record"], ck["mean"], ck["std"]
        widths = tuple(int(v) for v in record["recipe"]["widths"].split(","))
        net = build_net(widths, record["recipe"]["sep_from"], device)
        net.load_state_dict(ck["model"])
        net.eval()
        init_from = record["recipe"].get("init_from")
        if init_from and "init_record" not in record and os.path.exists(init_from):
            # States saved before init_record existed: take it from the file the run started from.
            record["init_record"] = torch.load(init_from, map_location="cpu")["record"]
        log(f"loaded {args.from_state}: {record['machine']}, {record['iterations']} iterations")
    else:
        log("loading training tiles", TRAIN_TILES)
        train_items = load_split(args.data, TRAIN_TILES, skip_bad=not args.keep_bad_masks)
        if args.train_limit:
            train_items = train_items[:args.train_limit]
        mean, std = compute_mean_std(train_items)
        counts = class_pixel_counts(train_items)
        log(f"train images {len(train_items)}, val images {len(val)}")
        log("mean", mean, "std", std)
        log("train class pixels", dict(zip(CLASS_NAMES, counts.tolist())))
        net, record = train(args, train_items, val, mean, std, counts, device)
        del train_items
        if args.save_state:
            tmp = args.save_state + ".tmp"
            torch.save({"model": {k: v.cpu() for k, v in net.state_dict().items()}, "mean": mean, "std": std,
                        "record": record}, tmp)
            os.replace(tmp, args.save_state)
            log(f"saved {args.save_state}")

    log("final evaluation on", [v["name"] for v in val], "(whole image, padded to x32)")
    ev_whole = evaluate(net, val, mean, std, mode="whole", per_image=True)
    log("whole-image:", json.dumps({k: ev_whole[k] for k in ("iou", "miou", "pixel_accuracy")}))
    for name, r in ev_whole["per_image"].items():
        log(f"  {name}: mIoU {r['miou']:.4f} acc {r['pixel_accuracy']:.4f} {json.dumps(r['iou'])}")
    ev_tta = evaluate(net, val, mean, std, mode="whole", per_image=True, tta=True)
    log("whole-image, 4-flip TTA:", json.dumps({k: ev_tta[k] for k in ("iou", "miou", "pixel_accuracy")}))
    ev_tiled = None
    if not args.skip_final_tiled:
        ev_tiled = evaluate(net, val, mean, std, mode="tiled", per_image=True)
        log(f"tiled ({TILE_SIZE}px, {TILES_OVERLAP}% overlap):",
            json.dumps({k: ev_tiled[k] for k in ("iou", "miou", "pixel_accuracy")}))
    record["final_eval_machine"] = machine_name(device)

    if args.no_export:
        path = os.path.join(args.out, "train-record.json")
        with open(path, "w") as f:
            json.dump(dict(record, whole_image=ev_whole, whole_image_tta=ev_tta, tiled=ev_tiled), f, indent=2)
        log(f"wrote {path}; total {(time.time() - t_start) / 60:.1f} min")
        return

    net = net.cpu()
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
                         "of 32, one forward pass; 'whole_image_tta': the same, probabilities averaged over "
                         "the 4 flips; 'tiled': sliding window with tile_size/tiles_overlap of "
                         "the metadata, probabilities averaged in overlaps. Preprocessing identical to the "
                         "ONNX runtime convention (DN/255, then (x-mean)/std)."),
        **record,
        "whole_image": ev_whole,
        "whole_image_tta": ev_tta,
        "tiled": ev_tiled,
        "onnx": {"opset": opset, "onnxruntime_node_check": nc},
        "metadata": meta,
    }
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    log(f"wrote {os.path.join(args.out, 'metrics.json')}; total {(time.time() - t_start) / 60:.1f} min")


if __name__ == "__main__":
    main()

"""ResNets: one residual network per source parameter, from a focused image centred on the source.

ResNet-18-like as in the study (stages of ``blocks`` basic blocks of
``widths`` channels, stride 2 between stages, adaptive average pooling, a
small dense head); the stem keeps full resolution because the sources span
only a few pixels. Parameters and their encodings:

* ``fwhm_major``, ``fwhm_minor``: intrinsic FWHM (pixels) from the focused
  image (the cube integrated over the line range);
* ``pa``: position angle as (cos 2 PA, sin 2 PA), which has no jump at
  0/180 deg, from the focused image;
* ``flux``: the line's integrated flux (Jy x channel) from the line image
  (focused image minus continuum), as log(flux / noise of the crop), so the
  network sees and predicts flux in units of the image's own noise.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .preprocess import robust_rms, two_channel
from .settings import RESNET_TARGETS as TARGETS

OUTPUTS = {"fwhm_major": 1, "fwhm_minor": 1, "pa": 2, "flux": 1}
IMAGE = {"fwhm_major": "focused", "fwhm_minor": "focused", "pa": "focused", "flux": "line"}


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out))
        self.skip = (nn.Identity() if stride == 1 and c_in == c_out else
                     nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x):
        return F.relu(self.body(x) + self.skip(x))


class ResNet(nn.Module):
    def __init__(self, outputs: int = 1, widths: tuple[int, ...] = (64, 128, 256, 512),
                 blocks: tuple[int, ...] = (2, 2, 2, 2), head: int = 64, in_channels: int = 2):
        super().__init__()
        self.config = {"outputs": outputs, "widths": list(widths), "blocks": list(blocks), "head": head,
                       "in_channels": in_channels}
        layers = [nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()]
        c_in = widths[0]
        for i, (width, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                layers.append(BasicBlock(c_in, width, 2 if (i > 0 and j == 0) else 1))
                c_in = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, head), nn.ReLU(),
                                  nn.Linear(head, outputs))

    def forward(self, x):
        return self.head(self.features(x))


def loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(pred, target)


def crop_scale(crop: np.ndarray) -> float:
    """Noise of a crop (its zero padding outside the image left out); the peak if it has no noise."""
    values = crop[crop != 0]
    rms = robust_rms(values) if values.size else 0.0
    return rms if rms > 0 else float(np.max(np.abs(crop))) or 1.0


def inputs(crops: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """(N, S, S) crops -> (N, 2, S, S) network inputs and each crop's scale (:func:`crop_scale`)."""
    scales = np.array([crop_scale(c) for c in crops])
    x = np.stack([two_channel(c, s) for c, s in zip(crops, scales)]) if len(crops) else np.zeros((0, 2, 1, 1))
    return torch.from_numpy(x.astype(np.float32)), scales


def encode(name: str, truth: dict, scales: np.ndarray) -> torch.Tensor:
    """Training targets (N, outputs) of parameter ``name`` from truth arrays (pixels, deg, Jy x channel)."""
    if name in ("fwhm_major", "fwhm_minor"):
        out = np.asarray(truth[name])[:, None]
    elif name == "pa":
        angle = np.deg2rad(2 * np.asarray(truth["pa"]))
        out = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    elif name == "flux":
        out = np.log(np.maximum(np.asarray(truth["flux"]), 1e-30) / scales)[:, None]
    else:
        raise ValueError(f"unknown ResNet target {name!r}; choose from {TARGETS}")
    return torch.from_numpy(out.astype(np.float32))


def decode(name: str, outputs: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Network outputs -> parameter values (pixels, deg in [0, 180), Jy x channel)."""
    outputs = np.asarray(outputs, dtype=float)
    if name in ("fwhm_major", "fwhm_minor"):
        return outputs[:, 0]
    if name == "pa":
        return (np.rad2deg(np.arctan2(outputs[:, 1], outputs[:, 0])) / 2) % 180.0
    if name == "flux":
        return np.exp(outputs[:, 0]) * scales
    raise ValueError(f"unknown ResNet target {name!r}; choose from {TARGETS}")


def predict(model: ResNet, x: torch.Tensor, device, batch_size: int = 256) -> np.ndarray:
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            out.append(model(x[start:start + batch_size].to(device)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config["outputs"]))

"""Blobs Finder: a convolutional autoencoder from the integrated dirty image to a source probability map.

Architecture as in the study: four stride-2 3x3 convolution blocks (LeakyReLU
+ BatchNorm), a dense bottleneck, a mirrored decoder (bilinear upsampling +
transposed convolutions) and a sigmoid output (``forward`` returns the logit,
:func:`probability` the sigmoid). The last decoder block keeps 8 maps for a
1x1 output convolution (the study's narrows to one map first), and optional
U-Net skip connections (``skips``) let the decoder see the encoder's maps.

The target differs from the study's min-max-normalised integrated sky model.
With line fluxes spanning 400x, the faint half of the sources sits below 1%
of that target and under any fixed threshold; and in these crowded fields
(sources 1 arcsec apart, a 0.9 arcsec beam) whole footprints merge into one
island. The target here is each source's *core*: its footprint as the dirty
image shows it (unit peak, see :mod:`.geometry`) shrunk by ``CORE_SCALE``,
the maximum where cores overlap, trained with binary cross-entropy (plus the
study's SSIM term). The output is then a calibrated probability, cores of
neighbours stay apart, and the footprint's box follows from a core's second
moments scaled back by 1 / ``CORE_SCALE``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from . import geometry, sidelobes
from .preprocess import two_channel

IN_CHANNELS = 2  # min-max and noise-stretched integrated image (see preprocess)
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
CORE_SCALE = 0.4  # cores of sources 1 arcsec apart stay separate up to 1 arcsec source sizes


def _conv_block(conv: nn.Module, c_out: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.LeakyReLU(), nn.BatchNorm2d(c_out))


class BlobsFinder(nn.Module):
    """Autoencoder for ``size`` x ``size`` inputs (``size`` a multiple of 2**len(channels), see :func:`pad`).

    ``skips`` adds U-Net connections: each decoder block also reads the
    encoder's output of the same resolution (the input image for the last).
    The study's network has none; with them the network learns to localise
    in a few hundred steps instead of thousands (see README, DeepFocus).
    """

    def __init__(self, size: int = 64, channels: tuple[int, ...] = (8, 16, 32, 64), latent: int = 1024,
                 skips: bool = True):
        super().__init__()
        depth = len(channels)
        if size % 2 ** depth:
            raise ValueError(f"BlobsFinder: image size {size} must be a multiple of {2 ** depth}")
        self.config = {"size": size, "channels": list(channels), "latent": latent, "skips": skips}
        self.size, self.skips = size, skips
        widths = [IN_CHANNELS, *channels]
        self.encoder = nn.ModuleList(_conv_block(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), c_out)
                                     for c_in, c_out in zip(widths[:-1], widths[1:]))
        self.bottom = (channels[-1], size // 2 ** depth, size // 2 ** depth)
        flat = int(np.prod(self.bottom))
        self.to_latent = nn.Linear(flat, latent)
        self.from_latent = nn.Sequential(nn.Linear(latent, flat), nn.LeakyReLU())
        # decoder block k mirrors encoder block depth-1-k; the last one keeps channels[0] maps for the 1x1 head
        ins, skip_widths = widths[::-1][:-1], widths[::-1][1:]
        outs = [*channels[::-1][1:], channels[0]]
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.decoder = nn.ModuleList(
            _conv_block(nn.ConvTranspose2d(c_in + (c_skip if skips else 0), c_out, 3, padding=1, bias=False), c_out)
            for c_in, c_out, c_skip in zip(ins, outs, skip_widths))
        self.head = nn.Conv2d(channels[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for block in self.encoder:
            features.append(block(features[-1]))
        z = self.to_latent(torch.flatten(features[-1], 1))
        h = self.from_latent(z).view(-1, *self.bottom)
        for k, block in enumerate(self.decoder):
            h = self.up(h)
            if self.skips:
                h = torch.cat([h, features[-2 - k]], dim=1)
            h = block(h)
        return self.head(h)


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean structural similarity of two (N, 1, H, W) images in [0, 1] (Gaussian window)."""
    coords = torch.arange(window, dtype=a.dtype, device=a.device) - window // 2
    g = torch.exp(-0.5 * (coords / sigma) ** 2)
    g = (g / g.sum())
    kernel = (g[:, None] * g[None, :])[None, None]

    def blur(x):
        return F.conv2d(x, kernel, padding=window // 2)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.mean()


def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on the footprint target plus the study's (1 - SSIM) term."""
    return F.binary_cross_entropy_with_logits(logits, target) + (1 - ssim(torch.sigmoid(logits), target))


def augment(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One random element of the square's symmetry group (rotations by 90 deg, mirror) per batch."""
    k = int(torch.randint(4, (1,), generator=gen))
    flip = bool(torch.randint(2, (1,), generator=gen))
    x, y = torch.rot90(x, k, dims=(2, 3)), torch.rot90(y, k, dims=(2, 3))
    return (x.flip(3), y.flip(3)) if flip else (x, y)


def target_map(sources, shape: tuple[int, int], beam: geometry.Beam, cell_arcsec: float) -> np.ndarray:
    """Training target of one image: the maximum of its sources' cores."""
    out = np.zeros(shape)
    for s in sources:
        cov = geometry.seen_covariance(s["fwhm_major_arcsec"] / cell_arcsec, s["fwhm_minor_arcsec"] / cell_arcsec,
                                       s["pa_deg"], beam)
        out = np.maximum(out, geometry.footprint(shape, s["x_pix"], s["y_pix"], cov * CORE_SCALE ** 2))
    return out


def inputs(images: np.ndarray) -> torch.Tensor:
    """(N, ny, nx) integrated images -> (N, 2, ny, nx) network inputs."""
    return torch.from_numpy(np.stack([two_channel(im) for im in images])) if len(images) else torch.zeros(0)


def network_size(npix: int, depth: int) -> int:
    """Side of the network's input: the image side rounded up to a multiple of 2**depth (zero padding)."""
    return -(-npix // 2 ** depth) * 2 ** depth


def pad(images: np.ndarray, size: int) -> np.ndarray:
    """(N, ny, nx) images zero-padded at the top and right to at least ``size`` x ``size``."""
    n, ny, nx = images.shape
    return np.pad(images, ((0, 0), (0, max(size - ny, 0)), (0, max(size - nx, 0))))


def probability(model: BlobsFinder, images: np.ndarray, device, batch_size: int = 64, psf: np.ndarray | None = None,
                clean_sigma: float = 5.0) -> np.ndarray:
    """Probability maps (N, ny, nx) of integrated images.

    Images are zero-padded to the network's size as in training; larger ones
    (same pixel scale) are tiled with half-tile overlap, each tile normalised
    on its own as in training, and the maximum probability kept where tiles
    overlap. With the integrated images' ``psf`` (peak 1) each tile of a larger
    image first loses the sidelobes of the sources outside it
    (:mod:`.sidelobes`, CLEAN down to ``clean_sigma``).
    """
    images = np.asarray(images, dtype=float)
    size = model.size
    n, ny, nx = images.shape
    images = pad(images, size)
    corners = [(y, x) for y in _tile_starts(images.shape[1], size) for x in _tile_starts(images.shape[2], size)]
    if psf is not None and len(corners) > 1:
        tiles = np.stack([sidelobes.tiles_without_outside(im, psf, clean_sigma, size, corners) for im in images])
    else:
        tiles = np.stack([images[:, y:y + size, x:x + size] for y, x in corners], axis=1)
    flat = tiles.reshape(-1, size, size)
    out = np.empty(flat.shape, dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(flat), batch_size):
            x = inputs(flat[start:start + batch_size]).to(device)
            out[start:start + batch_size] = torch.sigmoid(model(x))[:, 0].cpu().numpy()
    out = out.reshape(tiles.shape)
    prob = np.zeros(images.shape, dtype=np.float32)
    for t, (y, x) in enumerate(corners):
        prob[:, y:y + size, x:x + size] = np.maximum(prob[:, y:y + size, x:x + size], out[:, t])
    return prob[:, :ny, :nx]


def _tile_starts(n: int, size: int) -> list[int]:
    if n == size:
        return [0]
    starts = list(range(0, n - size, size // 2))
    return [*starts, n - size]


def find_blobs(prob: np.ndarray, threshold: float, level: float = geometry.FOOTPRINT_LEVEL) -> list[dict]:
    """Islands of a probability map: ``{"box", "score", "centre": (x, y)}`` each, most probable first.

    Islands are the 8-connected components of the pixels above ``threshold``
    (the study also dilated them by 3x3 to join fragments; with core targets
    that would join neighbours instead). An island's core is the region around
    its peak down to ``level`` times the peak, outside other islands, so a
    faint source is measured at the same relative level as a bright one. The
    core's probability-weighted centre and second moments, corrected for the
    cut at ``level`` and scaled by 1 / ``CORE_SCALE``, give the footprint and
    its box (see :func:`.geometry.footprint_box`).
    """
    labels, n = ndimage.label(prob > threshold, EIGHT_CONNECTED)
    blobs = []
    for k in range(1, n + 1):
        peak_at = np.argmax(np.where(labels == k, prob, -np.inf))
        py, px = np.unravel_index(peak_at, prob.shape)
        peak = float(prob[py, px])
        allowed = (prob >= level * peak) & ((labels == 0) | (labels == k))
        region_labels, _ = ndimage.label(allowed, EIGHT_CONNECTED)
        centre, cov = geometry.moments(prob, region_labels == region_labels[py, px], level)
        box = geometry.clip_box(geometry.footprint_box(*centre, cov / CORE_SCALE ** 2, level), prob.shape)
        blobs.append({"box": box, "score": peak, "centre": tuple(map(float, centre))})
    return sorted(blobs, key=lambda b: -b["score"])

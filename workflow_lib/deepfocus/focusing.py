"""Spectral focusing, SNRs, false positives, deblending and continuum separation (stage 4 of the study).

* Focusing: the cube integrated over a detected line's range only, so the
  line's SNR is no longer diluted by the noise of the other channels.
* Global SNR: median of the pixels within radius r of the box centre over the
  standard deviation in the annulus of equal area (r to r sqrt 2); the
  study calls the denominator the variance, but an SNR needs its square root.
* Pixel SNR: a pixel's value over the standard deviation of the image.
* Decision rules: with ``rule="study"`` a source that is bright in the
  integrated image (SNR >= ``bright_snr``) is kept directly, a fainter one
  only if focusing raises its SNR and leaves it at ``min_snr`` or more; with
  ``rule="none"`` every source is kept for the score threshold to decide
  (the operating point, chosen on the validation split, says which rule; see
  :mod:`.operating_point`).
* Location: each line's source is located in its line image (the focused
  image less the continuum, :func:`median_continuum` before any source is
  known): a bright neighbour's continuum must not take a faint line's
  position. A source whose brightest pixel in the box is outdone within
  ``leak_margin`` pixels outside the box is a bright neighbour's line seen
  through the box's edge, and is dropped (``leak_margin`` 0: no check).
* Lines of one box: the strongest is the primary. A secondary line that does
  not overlap in frequency any line already taken is a new (blended) source:
  it is located at the highest pixel of its line image inside the box and
  grown by friends-of-friends, inside the box, until its SNR saturates; the
  primary then gets its own box the same way. An overlapping secondary is the
  same source: dropped if its range lies inside the primary's, otherwise merged into it
  (union of the ranges). The growth's SNR is the aperture SNR (sum over the
  region over the square root of its size): the Global SNR compares a median
  with its surroundings and does not rise monotonically as a region grows.
  The box is the footprint box (see :mod:`.geometry`) of the Gaussian whose
  moments the region at that level has, so deblended boxes follow the
  definition of every other box.
* Continuum: a 3-D mask covers every source's box and line range, both
  dilated by ``mask_dilation`` about their centres; the continuum image is
  the mean of the unmasked channels of each pixel and the line image
  L_z = M_z - f(z) C. f(z) = 1: over the band of a cube (640 MHz at
  230 GHz) a spectral index of 3 changes the continuum by less than 1%.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from . import geometry
from .blobsfinder import EIGHT_CONNECTED

FOF_LEVELS = np.linspace(0.9, 0.1, 9)  # fractions of the seed pixel, from tight to loose


def global_snr(image: np.ndarray, centre, radius: float) -> float:
    """Median within ``radius`` of ``centre`` (x, y) over the standard deviation in the equal-area annulus."""
    yy, xx = np.ogrid[: image.shape[0], : image.shape[1]]
    d = np.hypot(xx - centre[0], yy - centre[1])
    inner = image[d <= radius]
    annulus = image[(d > radius) & (d <= radius * np.sqrt(2))]
    if inner.size == 0 or annulus.size < 2:
        return 0.0
    noise = float(np.std(annulus))
    return float(np.median(inner)) / noise if noise > 0 else 0.0


def box_snr(image: np.ndarray, box) -> float:
    """Global SNR of a 2-D box: centred on it, radius half its larger side (at least one pixel)."""
    x0, y0, x1, y1 = box
    return global_snr(image, geometry.box_centre(box), max((x1 - x0) / 2, (y1 - y0) / 2, 1.0))


def pixel_snr(image: np.ndarray) -> np.ndarray:
    """Each pixel over the standard deviation of the image."""
    noise = float(np.std(image))
    return image / noise if noise > 0 else np.zeros_like(image)


def channels(line: np.ndarray, nchan: int) -> slice:
    """Channels whose centres lie in a line range (at least the one nearest its middle)."""
    lo = int(np.clip(np.ceil(line[0]), 0, nchan - 1))
    hi = int(np.clip(np.floor(line[1]), 0, nchan - 1))
    if hi < lo:
        lo = hi = int(np.clip(round((line[0] + line[1]) / 2), 0, nchan - 1))
    return slice(lo, hi + 1)


def focus(cube: np.ndarray, line: np.ndarray) -> np.ndarray:
    """The cube integrated over a line range."""
    return cube[channels(line, cube.shape[0])].sum(axis=0)


RULES = ("study", "none")  # the false-positive rules of :func:`keep`


def keep(snr_integrated: float, snr_focused: float, bright_snr: float, min_snr: float, rule: str = "study") -> bool:
    """The false-positive rule for one source: the study's, or none (every source kept)."""
    if rule not in RULES:
        raise ValueError(f"unknown false-positive rule {rule!r}; choose from {RULES}")
    if rule == "none" or snr_integrated >= bright_snr:
        return True
    return snr_focused > snr_integrated and snr_focused >= min_snr


def resolve_lines(lines: list[dict]) -> list[dict]:
    """Lines of one box -> sources: each ``{"range", "height", "primary"}``, primary first.

    ``lines`` as from :func:`.deepgru.find_lines` (highest first). See the
    module notes for the overlap rules.
    """
    taken: list[dict] = []
    for line in lines:
        r = geometry.line_range(line["centre"], line["fwhm"])
        overlapping = [t for t in taken if r[0] < t["range"][1] and t["range"][0] < r[1]]
        if not overlapping:
            taken.append({"range": r, "height": line["height"], "primary": not taken})
            continue
        t = overlapping[0]
        if not (t["range"][0] <= r[0] and r[1] <= t["range"][1]):
            t["range"] = np.array([min(t["range"][0], r[0]), max(t["range"][1], r[1])])
    return taken


def grow(image: np.ndarray, seed: tuple[int, int], within=None) -> np.ndarray:
    """Footprint box of the friends-of-friends region around ``seed`` (x, y) where its aperture SNR peaks.

    The region is the 8-connected set of pixels above a fraction of the seed
    value (``FOF_LEVELS``, tight to loose) inside the 2-D box ``within``
    (default: the whole image); the growth stops once the sum over the region
    divided by the square root of its pixel count stops rising. Confined to
    the Blobs Finder's box, a faint source's region cannot run through the
    noise into a bright neighbour and take its position.
    """
    x, y = seed
    value = image[y, x]
    if value <= 0:
        return np.array([x - 0.5, y - 0.5, x + 0.5, y + 0.5])
    inside = np.ones(image.shape, dtype=bool)
    if within is not None:
        inside = np.zeros(image.shape, dtype=bool)
        inside[geometry.box_slices(within)] = True
    best, best_snr = None, -np.inf
    for fraction in FOF_LEVELS:
        labels, _ = ndimage.label((image >= fraction * value) & inside, EIGHT_CONNECTED)
        region = labels == labels[y, x]
        snr = image[region].sum() / np.sqrt(region.sum())
        if snr <= best_snr:
            break
        best, best_snr = (region, fraction), snr
    centre, cov = geometry.moments(image, *best)
    return geometry.clip_box(geometry.footprint_box(*centre, cov), image.shape)


def leaks_in(image: np.ndarray, peak: tuple[int, int], box, margin: int) -> bool:
    """Whether the brightest pixel of ``box`` (``peak``) is outdone within ``margin`` pixels outside it."""
    x0, y0, x1, y1 = box
    wider = geometry.clip_box(np.array([x0 - margin, y0 - margin, x1 + margin, y1 + margin], float), image.shape)
    ys, xs = geometry.box_slices(wider)
    return bool(image[ys, xs].max() > image[peak[1], peak[0]])


def _argmax_in(image: np.ndarray, box) -> tuple[int, int]:
    ys, xs = geometry.box_slices(box)
    part = image[ys, xs]
    py, px = np.unravel_index(np.argmax(part), part.shape)
    return int(px + xs.start), int(py + ys.start)


def median_continuum(cube: np.ndarray) -> np.ndarray:
    """Each pixel's median over channels: a continuum estimate before any line is known (lines cover a
    minority of the channels), to locate line sources without a bright neighbour's continuum."""
    return np.median(cube, axis=0)


def box_sources(cube: np.ndarray, integrated: np.ndarray, blob: dict, lines: list[dict], settings: dict,
                continuum: np.ndarray | None = None) -> list[dict]:
    """Sources of one Blobs Finder box after focusing, the false-positive rules and deblending.

    Each line's source is located (peak, deblending growth) in its line image, the focused image less
    ``continuum`` (default :func:`median_continuum`) over the line's channels; the SNRs are the study's,
    on the focused image.

    Each source: ``box`` (x0, y0, x1, y1), ``range`` (z0, z1), ``score``
    (blob probability x line probability), ``snr_integrated``, ``snr``
    (focused Global SNR), ``pixel_snr`` (Pixel SNR of the focused image at
    ``peak``), ``peak`` (x, y: the line image's brightest pixel in the box), ``deblended``.
    """
    found = []
    resolved = resolve_lines(lines)
    continuum = median_continuum(cube) if continuum is None else continuum
    for line in resolved:
        focused = focus(cube, line["range"])
        located = line_image(cube, continuum, line["range"])
        seed = _argmax_in(located, blob["box"])
        if settings["leak_margin"] and leaks_in(located, seed, blob["box"], settings["leak_margin"]):
            continue
        box = blob["box"] if len(resolved) == 1 else grow(located, seed, blob["box"])
        window, origin = _window(focused, seed, settings["focus_size"])
        snr_integrated, snr_focused = box_snr(integrated, box), box_snr(focused, box)
        if keep(snr_integrated, snr_focused, settings["bright_snr"], settings["min_snr"], settings["rule"]):
            found.append({"box": box, "range": line["range"], "score": blob["score"] * line["height"],
                          "snr_integrated": snr_integrated, "snr": snr_focused,
                          "pixel_snr": float(pixel_snr(window)[seed[1] - origin[1], seed[0] - origin[0]]),
                          "peak": seed, "deblended": len(resolved) > 1})
    return found


def _window(image: np.ndarray, seed: tuple[int, int], size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The ``size`` x ``size`` crop around ``seed`` that the Pixel SNR refers to (inside the image)."""
    ny, nx = image.shape
    x0 = int(np.clip(seed[0] - size // 2, 0, max(nx - size, 0)))
    y0 = int(np.clip(seed[1] - size // 2, 0, max(ny - size, 0)))
    return image[y0:y0 + size, x0:x0 + size], (x0, y0)


def continuum_mask(shape: tuple[int, int, int], sources: list[dict], dilation: float) -> np.ndarray:
    """3-D mask (nchan, ny, nx) of the sources' boxes x line ranges, dilated by ``dilation`` about their centres."""
    mask = np.zeros(shape, dtype=bool)
    for s in sources:
        box = np.asarray(s["box"], dtype=float)
        cx, cy = geometry.box_centre(box)
        hx, hy = dilation * (box[2] - box[0]) / 2, dilation * (box[3] - box[1]) / 2
        ys, xs = geometry.box_slices(geometry.clip_box([cx - hx, cy - hy, cx + hx, cy + hy], shape[1:]))
        z = geometry.box_centre(s["range"])[0]
        half = dilation * (s["range"][1] - s["range"][0]) / 2
        mask[channels(np.array([z - half, z + half]), shape[0]), ys, xs] = True
    return mask


def continuum_image(cube: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over each pixel's unmasked channels (over all channels where every channel is masked)."""
    free = ~mask
    count = free.sum(axis=0)
    unmasked = np.where(free, cube, 0).sum(axis=0) / np.maximum(count, 1)
    return np.where(count > 0, unmasked, cube.mean(axis=0))


def line_image(cube: np.ndarray, continuum: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Line image: sum over the line's channels of M_z - C."""
    sl = channels(line, cube.shape[0])
    return (cube[sl] - continuum[None]).sum(axis=0)

"""Figures for the paper and the report: labelled axes, units and colour bars, PNG + PDF.

Images are shown in arcsec offsets from the phase centre (east to the left),
restoring beams as ellipses in the lower left corner.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from . import fitsio  # noqa: E402


def save(fig, png: str, pdf: str | None = None) -> None:
    """Write ``fig`` as PNG (and PDF) and close it."""
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=130, bbox_inches="tight")
    if pdf:
        fig.savefig(pdf, bbox_inches="tight")
    plt.close(fig)


def extent_arcsec(grid: fitsio.Grid) -> list[float]:
    """imshow extent (left, right, bottom, top) in arcsec offsets; east (smaller x) on the left."""
    cx, cy = grid.centre
    c = grid.cell_arcsec
    return [(cx + 0.5) * c, -(grid.nx - cx - 0.5) * c, -(cy + 0.5) * c, (grid.ny - cy - 0.5) * c]


def image_panel(ax, image: np.ndarray, grid: fitsio.Grid, title: str, unit: str, beam=None, vmin=None, vmax=None,
                cmap: str = "inferno", zoom_arcsec: float | None = None):
    """One image with colour bar (``unit``), offsets in arcsec and the restoring beam."""
    im = ax.imshow(image, origin="lower", extent=extent_arcsec(grid), cmap=cmap, vmin=vmin, vmax=vmax,
                   interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(r"$\Delta\alpha$ [arcsec]")
    ax.set_ylabel(r"$\Delta\delta$ [arcsec]")
    if zoom_arcsec:
        ax.set_xlim(zoom_arcsec, -zoom_arcsec)
        ax.set_ylim(-zoom_arcsec, zoom_arcsec)
    if beam is not None:
        xlim, ylim = ax.get_xlim(), ax.get_ylim()
        size = max(beam[0], beam[1])
        centre = (xlim[0] - np.sign(xlim[0] - xlim[1]) * size, ylim[0] + size)
        ax.add_patch(Ellipse(centre, beam[1], beam[0], angle=-beam[2], facecolor="none", edgecolor="white", lw=1))
    bar = plt.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    bar.set_label(unit, fontsize=8)
    return im


def continuum_comparison(skymodel_fits: str, images: dict[str, str], png: str, pdf: str,
                         zoom_arcsec: float = 8.0) -> None:
    """Sky model next to each tCLEAN (or other) image of the continuum field, on a common colour scale."""
    model, header = fitsio.read_cube(skymodel_fits)
    grid = fitsio.Grid.from_header(header, skymodel_fits)
    panels = [(name, *fitsio.read_cube(path)) for name, path in images.items()]
    vmax = max(float(np.nanmax(data[0])) for _, data, _ in panels)
    fig, axes = plt.subplots(1, 1 + len(panels), figsize=(4.2 * (1 + len(panels)), 3.6), constrained_layout=True)
    image_panel(axes[0], model[0], grid, "sky model", "Jy/pixel", zoom_arcsec=zoom_arcsec, cmap="viridis")
    for ax, (name, data, h) in zip(axes[1:], panels):
        beam = fitsio.beam_arcsec(h) if "BMAJ" in h else None
        image_panel(ax, data[0], grid, name.replace("_", " "), h.get("BUNIT", ""), beam=beam, vmin=-0.1 * vmax,
                    vmax=vmax, zoom_arcsec=zoom_arcsec)
    save(fig, png, pdf)


def write_continuum_figure(*, skymodel: str, dirty: str, images: list[str], methods: list[str], png: str,
                           pdf: str) -> None:
    """The continuum field's sky model, dirty image and each method's image (in the order of ``methods``)."""
    continuum_comparison(skymodel, {"dirty": dirty, **dict(zip(methods, images, strict=True))}, png, pdf)

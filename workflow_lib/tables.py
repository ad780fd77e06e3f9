"""Comparison tables written as CSV and Markdown (the study's table layouts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table
from scipy.signal import fftconvolve

from . import fitsio, provenance
from .skymodels import gaussian_2d
from .units import FWHM_TO_SIGMA


def beam_area_pixels(beam, cell_arcsec: float) -> float:
    """Area (pixels) of a Gaussian beam (bmaj, bmin arcsec, ...): Jy/beam summed over pixels / this = Jy."""
    return 2 * np.pi * (beam[0] * FWHM_TO_SIGMA / cell_arcsec) * (beam[1] * FWHM_TO_SIGMA / cell_arcsec)


def convolve_with_beam(image: np.ndarray, cell_arcsec: float, beam: tuple[float, float, float]) -> np.ndarray:
    """Jy/pixel image -> Jy/beam image for a Gaussian restoring beam (bmaj, bmin arcsec; bpa deg)."""
    bmaj, bmin, bpa = beam
    ny, nx = image.shape
    # centred where fftconvolve's "same" crop puts the kernel's origin, (n - 1) // 2: at n // 2 an even-sized
    # image came out shifted by one pixel in x and y
    kernel = gaussian_2d(nx, ny, (nx - 1) // 2, (ny - 1) // 2, bmaj / cell_arcsec, bmin / cell_arcsec, bpa)
    return fftconvolve(image, kernel * beam_area_pixels(beam, cell_arcsec), mode="same")


def convolve_cube_with_beam(cube: np.ndarray, cell_arcsec: float, beam: tuple[float, float, float]) -> np.ndarray:
    """Jy/pixel cube -> Jy/beam cube, plane by plane (:func:`convolve_with_beam`)."""
    return np.stack([convolve_with_beam(plane, cell_arcsec, beam) for plane in cube])


def peak_index_near(image: np.ndarray, x: float, y: float, radius_pix: float) -> tuple[int, int]:
    """(row, column) of the largest pixel within ``radius_pix`` of (x, y)."""
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    inside = np.hypot(xx - x, yy - y) <= radius_pix
    flat = np.flatnonzero(inside)[np.argmax(image[inside])]
    return np.unravel_index(flat, image.shape)


def peak_near(image: np.ndarray, x: float, y: float, radius_pix: float) -> float:
    """Largest pixel within ``radius_pix`` of (x, y)."""
    return float(image[peak_index_near(image, x, y, radius_pix)])


def continuum_peak_fluxes(components_ecsv: str, skymodel_fits: str, images: dict[str, str]) -> Table:
    """Peak flux (Jy/beam) of each component in the model and in each image.

    The model column of an image is the sky model convolved with that image's
    restoring beam, so each measured peak has its like-for-like expectation.
    Peaks are searched within max(beam, component) FWHM of the true position (found through each image's
    own WCS: a mosaic's images have another grid than the sky model).
    """
    components = Table.read(components_ecsv, format="ascii.ecsv")
    model, header = fitsio.read_cube(skymodel_fits)
    cell = fitsio.Grid.from_header(header, skymodel_fits).cell_arcsec
    table = Table()
    table["component"] = components["name"]
    table["model_flux_mjy"] = np.asarray(components["flux_jy"]) * 1e3
    for name, path in images.items():
        data, image_header = fitsio.read_cube(path)
        beam = fitsio.beam_arcsec(image_header)
        grid = fitsio.Grid.from_header(image_header, path)
        xs, ys = grid.celestial_wcs().world_to_pixel_values(np.asarray(components["ra_deg"]),
                                                           np.asarray(components["dec_deg"]))
        model_jy_beam = convolve_with_beam(model[0], cell, beam)
        expected, measured = [], []
        for comp, x, y in zip(components, xs, ys):
            fwhm = max(beam[0], comp["fwhm_major_arcsec"])
            expected.append(peak_near(model_jy_beam, comp["x_pix"], comp["y_pix"], fwhm / cell))
            measured.append(peak_near(data[0], x, y, fwhm / grid.cell_arcsec))
        table[f"model_{name}_mjy_beam"] = np.array(expected) * 1e3
        table[f"{name}_mjy_beam"] = np.array(measured) * 1e3
        table[f"{name}_ratio"] = np.array(measured) / np.array(expected)
        table.meta[f"beam_{name}_arcsec_arcsec_deg"] = list(beam)
    return table


def write_table(table: Table, csv_path: str, md_path: str, title: str, params=None, digits: int = 4) -> None:
    """CSV (machine) and Markdown (human) copies of ``table``; the Markdown gets a title and notes."""
    table.meta.update(provenance.record(params))
    Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
    table.write(csv_path, format="ascii.csv", overwrite=True)
    cols = table.colnames

    def fmt(value):
        if isinstance(value, (float, np.floating)):
            return f"{value:.{digits}g}"
        return str(value)

    lines = [f"# {title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(row[c]) for c in cols) + " |" for row in table]
    notes = [f"- {k}: {v}" for k, v in table.meta.items() if k.startswith("beam_") or k == "note"]
    versions = ", ".join(f"{k} {v}" for k, v in table.meta["versions"].items() if v != "not installed")
    machine = table.meta["machine"]
    notes.append(f"- made by: {versions}; on {machine['cpu']} ({machine['simd']}); parameter hash "
                 f"{table.meta['params_hash']}")
    lines += ["", *notes]
    Path(md_path).write_text("\n".join(lines) + "\n")


def benchmark_summary(bench_dir: str) -> Table:
    """Wall time and peak memory per rule, from the ``benchmark:`` files under ``bench_dir``."""
    root = Path(bench_dir)
    per_rule: dict[str, list[tuple[float, float]]] = {}
    for path in sorted(root.rglob("*.tsv")):
        rule = path.relative_to(root).parts[0].removesuffix(".tsv")
        rows = Table.read(path, format="ascii.tab")
        per_rule.setdefault(rule, []).extend(zip(rows["s"], rows["max_rss"]))
    table = Table(names=("rule", "jobs", "total_s", "mean_s", "max_s", "max_rss_mb"),
                  dtype=(str, int, float, float, float, float))
    for rule, runs in per_rule.items():
        seconds = np.array([r[0] for r in runs], dtype=float)
        rss = np.array([r[1] for r in runs], dtype=float)
        table.add_row((rule, len(runs), seconds.sum(), seconds.mean(), seconds.max(), np.nanmax(rss)))
    return table


def write_continuum_peak_table(*, components: str, skymodel: str, images: list[str], methods: list[str], csv: str,
                               md: str, params: dict) -> None:
    """The study's Table 2 layout for the continuum field: each method's pb-corrected image (``images``, in the
    order of ``methods``) against the sky model convolved with its beam."""
    table = continuum_peak_fluxes(components, skymodel, dict(zip(methods, images, strict=True)))
    table.meta["note"] = ("peaks in Jy/beam of the primary-beam corrected images; model_<image> is the sky model "
                          "convolved with that image's restoring beam")
    write_table(table, csv, md, "Continuum field: peak flux per component (mJy/beam)", params=params)

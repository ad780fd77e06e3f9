"""RESOLVE next to tCLEAN: the study's Tables 2 and 4, the uncertainty calibration and Figs. 9 and 12.

RESOLVE's posterior is a sky in Jy/pixel; to compare peaks with a tCLEAN
image, every posterior sample is convolved with that image's restoring beam
(Jy/beam) and the table gives mean +- std over the samples. Integrated fluxes
sum Jy/pixel directly (RESOLVE) or Jy/beam divided by the beam area in pixels
(tCLEAN).
"""

from __future__ import annotations

import h5py
import matplotlib.pyplot as plt
from matplotlib.colors import Normalize, PowerNorm
import numpy as np
from astropy.table import Table
from scipy import stats

from .. import figures, fitsio, skymodels, tables
from ..units import ARCSEC
from . import response


def read_samples(path: str) -> np.ndarray:
    with h5py.File(path, "r") as fh:
        return np.asarray(fh["sky_jy_per_pixel"], dtype=np.float64)


def sample_count(path: str) -> int:
    """Number of posterior samples in ``path``, from the dataset's shape (nothing read)."""
    with h5py.File(path, "r") as fh:
        return fh["sky_jy_per_pixel"].shape[0]


def _stats(values) -> tuple[float, float]:
    values = np.asarray(values)
    return float(values.mean()), float(values.std(ddof=1))


def _ratio_summary(table: Table, name: str) -> str:
    """The mean |ratio - 1| of tCLEAN image ``name`` and of RESOLVE through its beam, for a table's note."""
    return (f"{name} beam: mean |ratio - 1| tCLEAN {np.mean(np.abs(table[f'{name}_ratio'] - 1)):.3f}, "
            f"RESOLVE {np.mean(np.abs(table[f'resolve_{name}_ratio'] - 1)):.3f}")


def continuum_peak_table(components_ecsv: str, skymodel_fits: str, images: dict[str, str], samples_h5: str,
                         mean_fits: str) -> Table:
    """Table 2: per component, model and tCLEAN peaks (``tables.continuum_peak_fluxes``) plus RESOLVE's.

    For each tCLEAN image the RESOLVE samples are convolved with its restoring
    beam, so ``resolve_<image>`` is like-for-like with ``model_<image>``; the peak is read off their mean
    (:func:`posterior_peak`).
    """
    table = tables.continuum_peak_fluxes(components_ecsv, skymodel_fits, images)
    components = Table.read(components_ecsv, format="ascii.ecsv")
    samples = read_samples(samples_h5)
    _, header = fitsio.read_cube(mean_fits)
    grid = fitsio.Grid.from_header(header, mean_fits)
    xs, ys = grid.celestial_wcs().world_to_pixel_values(np.asarray(components["ra_deg"]),
                                                       np.asarray(components["dec_deg"]))
    summary = []
    for name, path in images.items():
        beam = fitsio.beam_arcsec(fitsio.read_cube(path)[1])
        convolved = np.array([tables.convolve_with_beam(s, grid.cell_arcsec, beam) for s in samples])
        peaks = [posterior_peak(convolved, x, y, max(beam[0], comp["fwhm_major_arcsec"]) / grid.cell_arcsec)
                 for comp, x, y in zip(components, xs, ys)]
        mean, std = np.array(peaks).T * 1e3
        table[f"resolve_{name}_mjy_beam"] = mean
        table[f"resolve_{name}_std_mjy_beam"] = std
        table[f"resolve_{name}_ratio"] = mean / table[f"model_{name}_mjy_beam"]
        summary.append(_ratio_summary(table, name))
    table.meta["note"] = ("peaks in mJy/beam within max(beam, component) FWHM of the true position; model_<image> is "
                          "the sky model and resolve_<image> the RESOLVE posterior mean convolved with that tCLEAN "
                          "image's restoring beam, its std over the samples at the mean's peak pixel; "
                          + "; ".join(summary))
    return table


def posterior_peak(convolved: np.ndarray, x: float, y: float, radius_pix: float) -> tuple[float, float]:
    """Peak within ``radius_pix`` of (x, y) of the mean of ``convolved`` samples ``(n, ny, nx)``, and the
    samples' std (ddof 1) at that pixel. Not the mean of each sample's own peak: a maximum picks up the samples'
    scatter, so that estimate rises with the posterior width (wide samples put the demo field's faint extended E
    50% above the model that way: benchmarks/resolve_seeds_posterior.md)."""
    iy, ix = tables.peak_index_near(convolved.mean(axis=0), x, y, radius_pix)
    return _stats(convolved[:, iy, ix])


def component_flux_table(components_ecsv: str, skymodel_fits: str, images: dict[str, str], samples_h5: str,
                         mean_fits: str) -> Table:
    """Integrated flux (mJy) per component, emission or decrement: model, tCLEAN and RESOLVE, per tCLEAN beam.

    Like-for-like as Table 2: the sky model and every RESOLVE sample are convolved with each tCLEAN image's
    restoring beam, and all three are summed (Jy/beam over the beam area) within the same aperture, a radius
    of 1.5 times the component's FWHM plus the beam's around its true position.
    """
    components = Table.read(components_ecsv, format="ascii.ecsv")
    model, header = fitsio.read_cube(skymodel_fits)
    model_grid = fitsio.Grid.from_header(header, skymodel_fits)
    samples = read_samples(samples_h5)
    resolve_grid = fitsio.Grid.from_header(fitsio.read_cube(mean_fits)[1], mean_fits)
    ra, dec = np.asarray(components["ra_deg"]), np.asarray(components["dec_deg"])
    table = Table()
    table["component"] = components["name"]
    table["model_flux_mjy"] = np.asarray(components["flux_jy"]) * 1e3
    summary = []
    for name, path in images.items():
        data, image_header = fitsio.read_cube(path)
        beam = fitsio.beam_arcsec(image_header)
        grids = {"model": model_grid, "tclean": fitsio.Grid.from_header(image_header, path), "resolve": resolve_grid}
        maps = {"model": [tables.convolve_with_beam(model[0], model_grid.cell_arcsec, beam)],
                "tclean": [np.nan_to_num(data[0])],
                "resolve": [tables.convolve_with_beam(x, resolve_grid.cell_arcsec, beam) for x in samples]}
        fluxes = {key: [] for key in maps}
        for k, comp in enumerate(components):
            radius = 1.5 * comp["fwhm_major_arcsec"] + beam[0]
            for key, grid in grids.items():
                x, y = grid.celestial_wcs().world_to_pixel_values(ra[k], dec[k])
                yy, xx = np.mgrid[:grid.ny, :grid.nx]
                inside = np.hypot(xx - x, yy - y) * grid.cell_arcsec <= radius
                area = tables.beam_area_pixels(beam, grid.cell_arcsec)
                fluxes[key].append([m[inside].sum() / area for m in maps[key]])
        expected = np.array(fluxes["model"])[:, 0] * 1e3
        resolve = np.array(fluxes["resolve"]) * 1e3
        table[f"model_{name}_mjy"] = expected
        table[f"{name}_mjy"] = np.array(fluxes["tclean"])[:, 0] * 1e3
        table[f"{name}_ratio"] = table[f"{name}_mjy"] / expected
        table[f"resolve_{name}_mjy"] = resolve.mean(axis=1)
        table[f"resolve_{name}_std_mjy"] = resolve.std(axis=1, ddof=1)
        table[f"resolve_{name}_ratio"] = resolve.mean(axis=1) / expected
        table.meta[f"beam_{name}_arcsec_arcsec_deg"] = list(beam)
        summary.append(_ratio_summary(table, name))
    table.meta["note"] = ("integrated flux in mJy within 1.5 FWHM + one beam of the true position, the sky model "
                          "(model_<image>) and each RESOLVE sample (mean, std over samples) convolved with that "
                          "tCLEAN image's restoring beam; negative for a decrement; " + "; ".join(summary))
    return table


def truth_on_grid(field: dict, observation: dict, grid: fitsio.Grid) -> np.ndarray:
    """A simulated field's components (its config section) rendered (pixel-integrated, Jy/pixel) on the RESOLVE
    grid, whose centre may lie off the phase centre (a mosaic's is the pointings' mean direction)."""
    centre = observation["phase_centre"]
    east, north = (v / ARCSEC for v in response.sin_offset(centre["ra_deg"], centre["dec_deg"], grid.ra_deg,
                                                          grid.dec_deg))
    components = [{**c, "offset_arcsec": [c["offset_arcsec"][0] - east, c["offset_arcsec"][1] - north]}
                  for c in field["components"]]
    spec = {**field, "npix": grid.nx, "cell_arcsec": grid.cell_arcsec, "components": components}
    image, _, _ = skymodels.continuum_field(spec, {**observation, "phase_centre": {"ra_deg": grid.ra_deg,
                                                                                  "dec_deg": grid.dec_deg}})
    return image[0]


def expected_coverage(k: float, n_samples: int) -> float:
    """Share of pixels within ``k`` sample sigma of the sample mean that a calibrated Gaussian posterior gives
    when its std is the sample std (ddof 1) of ``n_samples`` antithetic samples: n / 2 independent pairs and an
    exact mean make |truth - mean| / std a Student t with n / 2 degrees of freedom over sqrt(n / (n - 1)); it
    reaches 68.3% / 95.4% only as n grows (two pairs: 63.2% / 85.3%)."""
    return float(2 * stats.t.cdf(k * np.sqrt(n_samples / (n_samples - 1)), df=n_samples // 2) - 1)


def calibration_table(truth: np.ndarray, mean: np.ndarray, std: np.ndarray, emission_fraction: float,
                      n_samples: int) -> Table:
    """Share of emission pixels where |mean - truth| is within 1 and 2 posterior sigma (ideal 68.3%, 95.4%;
    ``expected``: what a calibrated posterior gives with the std from ``n_samples`` antithetic samples);
    emission is |truth| above ``emission_fraction`` of its largest (a decrement counts)."""
    inside = np.abs(truth) > emission_fraction * np.abs(truth).max()
    z = np.abs(mean - truth)[inside] / std[inside]
    table = Table(rows=[(k, float(np.mean(z < k)), ideal, expected_coverage(k, n_samples), int(inside.sum()))
                        for k, ideal in ((1, 0.6827), (2, 0.9545))],
                  names=("within_sigma", "fraction", "ideal", "expected", "pixels"))
    table.meta["note"] = (f"pixels inside the emission: |true sky| above {emission_fraction:g} of its peak; "
                          f"RESOLVE posterior mean and std ({n_samples} antithetic samples) against the true sky "
                          "on the RESOLVE grid; expected: a calibrated posterior's share with that many samples")
    return table


def _aperture(grid: fitsio.Grid, centre_offset_arcsec, radius_arcsec: float) -> np.ndarray:
    x0, y0 = skymodels.offset_to_pixel(grid, *centre_offset_arcsec)
    yy, xx = np.mgrid[:grid.ny, :grid.nx]
    return np.hypot(xx - x0, yy - y0) * grid.cell_arcsec <= radius_arcsec


def disk_flux_table(images: dict[str, str], samples_h5: str, mean_fits: str, radii_arcsec, centre_offset_arcsec,
                    reference: str | None = None) -> Table:
    """Table 4: peak (Jy/beam) and flux within each radius of the disk centre (Jy), tCLEAN and RESOLVE.

    RESOLVE's peak is that of the posterior mean convolved with the ``reference`` tCLEAN image's beam (default:
    the first), +- the samples' std at that pixel (:func:`posterior_peak` over the whole image).
    """
    rows, beams = [], {}
    for name, path in images.items():
        data, header = fitsio.read_cube(path)
        grid = fitsio.Grid.from_header(header, path)
        beam = beams[name] = fitsio.beam_arcsec(header)
        image = np.nan_to_num(data[0])
        area = tables.beam_area_pixels(beam, grid.cell_arcsec)
        fluxes = [image[_aperture(grid, centre_offset_arcsec, r)].sum() / area for r in radii_arcsec]
        rows.append((f"tCLEAN {name}", float(image.max()), 0.0, *fluxes, *np.zeros(len(fluxes))))
    samples = read_samples(samples_h5)
    _, header = fitsio.read_cube(mean_fits)
    grid = fitsio.Grid.from_header(header, mean_fits)
    reference = reference or next(iter(images), None)
    if reference is not None:
        convolved = np.stack([tables.convolve_with_beam(s, grid.cell_arcsec, beams[reference]) for s in samples])
        peak = posterior_peak(convolved, 0.0, 0.0, np.inf)
    else:
        peak = (np.nan, np.nan)
    fluxes = [_stats(samples[:, _aperture(grid, centre_offset_arcsec, r)].sum(axis=1)) for r in radii_arcsec]
    rows.append(("RESOLVE", peak[0], peak[1], *(f[0] for f in fluxes), *(f[1] for f in fluxes)))
    radius_cols = [f"flux_r{r:g}_jy" for r in radii_arcsec]
    table = Table(rows=rows, names=("method", "peak_jy_beam", "peak_std", *radius_cols,
                                    *(c.replace("_jy", "_std") for c in radius_cols)))
    for name, beam in beams.items():
        table.meta[f"beam_{name}_arcsec_arcsec_deg"] = list(beam)
    table.meta["note"] = (f"radii in arcsec around ({centre_offset_arcsec[0]:g}, {centre_offset_arcsec[1]:g}) arcsec "
                          f"(east, north) of the phase centre; RESOLVE peak: the posterior mean's after convolution "
                          f"with the {reference} beam; std columns are RESOLVE's posterior std (0 for tCLEAN, which has none)")
    return table


def _resolve_panels(axes, mean_fits: str, std_fits: str, zoom_arcsec: float):
    """RESOLVE posterior mean and std in mJy/arcsec^2 (pixel-size independent), on a square-root stretch so
    that faint emission shows next to the unconvolved peaks."""
    mean, header = fitsio.read_cube(mean_fits)
    std, _ = fitsio.read_cube(std_fits)
    grid = fitsio.Grid.from_header(header, mean_fits)
    to_surface = 1e3 / grid.cell_arcsec ** 2
    for ax, image, title, cmap in ((axes[0], mean[0], "RESOLVE posterior mean", "inferno"),
                                   (axes[1], std[0], "RESOLVE posterior std", "viridis")):
        image = image * to_surface
        if image.min() < 0:   # a signed sky: linear and symmetric at twice the deepest trough, so that a
            limit = -2 * float(image.min())   # decrement shows (brighter emission saturates)
            shown = figures.image_panel(ax, image, grid, f"{title} (linear)", "mJy/arcsec$^2$",
                                        zoom_arcsec=zoom_arcsec, cmap="RdBu_r")
            shown.set_norm(Normalize(vmin=-limit, vmax=limit))
            continue
        shown = figures.image_panel(ax, image, grid, f"{title} (sqrt stretch)", "mJy/arcsec$^2$",
                                    zoom_arcsec=zoom_arcsec, cmap=cmap)
        shown.set_norm(PowerNorm(0.5, vmin=0.0, vmax=float(image.max())))
    return grid


def comparison_figure(mean_fits: str, std_fits: str, images: dict[str, str], png: str, pdf: str,
                      zoom_arcsec: float | None = None) -> None:
    """Fig. 9 / Fig. 12 layout: RESOLVE mean and uncertainty next to the tCLEAN images (mJy/beam)."""
    fig, axes = plt.subplots(1, 2 + len(images), figsize=(4.2 * (2 + len(images)), 3.6), constrained_layout=True)
    grid = _resolve_panels(axes, mean_fits, std_fits, zoom_arcsec)
    zoom = zoom_arcsec or grid.nx * grid.cell_arcsec / 2
    for ax, (name, path) in zip(axes[2:], images.items()):
        data, header = fitsio.read_cube(path)
        title = f"tCLEAN {name}".replace("_", " ")
        figures.image_panel(ax, data[0] * 1e3, fitsio.Grid.from_header(header, path), title, "mJy/beam",
                            beam=fitsio.beam_arcsec(header), zoom_arcsec=zoom)
    figures.save(fig, png, pdf)


def predicted_visibilities(obs, image_fits: str, primary_beam: str, samples_h5: str | None = None) -> np.ndarray:
    """``(n, nvis)`` visibilities at the uv points of ``obs`` of an image (Jy/pixel) or, with ``samples_h5``, of
    the RESOLVE samples (on the grid of ``image_fits``), seen through ``primary_beam`` on every pointing (a
    single field's tCLEAN model is the apparent sky already: ``none``)."""
    data, header = fitsio.read_cube(image_fits)
    grid = fitsio.Grid.from_header(header, image_fits)
    images = np.nan_to_num(data[0])[None] if samples_h5 is None else read_samples(samples_h5)
    wgridding = response.use_wgridding(obs, grid.nx, grid.cell_arcsec, "auto")
    pointings = response.pointing_responses(obs, grid.nx, grid.cell_arcsec, 1e-6, wgridding, primary_beam)
    return np.array([response.predict(pointings, image, obs.nvis) for image in images])

"""RESOLVE cubes next to tCLEAN's: per source the line's peak, centre and width and the continuum, against
the truth catalogue of a simulated cube, and the spectra figure.

Like Table 2, like for like: the sky model and every RESOLVE sample are convolved plane by plane with the
tCLEAN cube's restoring beam, and all three are read (Jy/beam) at each true source's position; each spectrum
is then fitted with one constant continuum plus one Gaussian line. A spectrum at one position, not an aperture
sum: the simulated cubes put sources about a beam apart, where any aperture around a faint source holds its
bright neighbour. The catalogue gives the true centre and width; the true line peak at the beam is the
model's fit.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from astropy.table import Table

from .. import figures, fitsio, tables
from ..units import FWHM_TO_SIGMA, GAUSSIAN_AREA_PER_FWHM
from .compare import read_samples

FIT_KEYS = ("continuum_jy", "line_peak_jy", "line_centre_chan", "line_fwhm_chan")
BRIGHT_SNR = 5.0   # the summary in the note averages over sources at least this bright (beam peak / noise)


def line_fit(spectrum: np.ndarray) -> dict:
    """A constant continuum plus one Gaussian line fitted to ``spectrum`` (Jy or Jy/beam per
    channel): continuum and line peak (Jy), line centre and FWHM (channels), as :class:`.skymodels.LineSource`
    describes a source. Starts at the brightest channel over the median; the centre is kept inside the band and
    the width between a fifth of a channel and the band. NaN everywhere for a spectrum with a non-finite value
    or a fit that does not converge; a spectrum of noise gets a finite fit of nothing (the table's snr says
    which sources can be told from the noise)."""
    from scipy.optimize import curve_fit

    nchan = spectrum.size
    chan = np.arange(nchan, dtype=float)

    def model(x, continuum, peak, centre, sigma):
        return continuum + peak * np.exp(-0.5 * ((x - centre) / sigma) ** 2)

    if not np.all(np.isfinite(spectrum)):
        return dict.fromkeys(FIT_KEYS, np.nan)
    lo, hi = 0.2 * FWHM_TO_SIGMA, nchan * FWHM_TO_SIGMA   # sigma of a fifth of a channel .. the band
    bounds = ([-np.inf, -np.inf, -0.5, lo], [np.inf, np.inf, nchan - 0.5, hi])
    base = float(np.median(spectrum))
    start = (base, float(spectrum.max() - base), float(np.argmax(spectrum)), min(max(2.0, lo), hi))
    try:
        (continuum, peak, centre, sigma), _ = curve_fit(model, chan, spectrum, p0=start, bounds=bounds,
                                                        max_nfev=20000)
    except RuntimeError:
        return dict.fromkeys(FIT_KEYS, np.nan)
    return {"continuum_jy": float(continuum), "line_peak_jy": float(peak), "line_centre_chan": float(centre),
            "line_fwhm_chan": float(abs(sigma) / FWHM_TO_SIGMA)}


def _spectrum_at(cube: np.ndarray, grid: fitsio.Grid, row, path: str) -> np.ndarray:
    """The spectrum of a cube at the pixel nearest a catalogue source; a source off the grid is an error."""
    x, y = (int(np.rint(v)) for v in grid.celestial_wcs().world_to_pixel_values(row["ra_deg"], row["dec_deg"]))
    if not (0 <= x < grid.nx and 0 <= y < grid.ny):
        raise ValueError(f"{path}: source {row['id']} lies at pixel ({x}, {y}), outside its {grid.nx} x {grid.ny} "
                         "grid; image the whole simulated cube")
    return cube[:, y, x]


def spectra(truth_ecsv: str, skymodel_fits: str, image_fits: str, samples_h5: str, mean_fits: str) -> dict:
    """Per source of the catalogue, the spectra (Jy/beam per channel) at its true position of the sky model,
    of the tCLEAN cube and of each RESOLVE sample, all at the tCLEAN cube's beam; and that beam."""
    truth = Table.read(truth_ecsv, format="ascii.ecsv")
    model, model_header = fitsio.read_cube(skymodel_fits)
    image, image_header = fitsio.read_cube(image_fits)
    beam = fitsio.read_beam(image_fits)
    if beam is None:
        raise ValueError(f"{image_fits}: no restoring beam (BMAJ or a BEAMS table)")
    grids = {"model": fitsio.Grid.from_header(model_header, skymodel_fits),
             "tclean": fitsio.Grid.from_header(image_header, image_fits),
             "resolve": fitsio.Grid.from_header(fitsio.read_cube(mean_fits)[1], mean_fits)}
    if not grids["resolve"].matches(grids["tclean"]) or grids["resolve"].specsys != grids["tclean"].specsys:
        raise ValueError(f"{mean_fits} and {image_fits}: not the same grid and channels ({grids['resolve']} vs "
                         f"{grids['tclean']})")
    samples = read_samples(samples_h5)
    if samples.ndim != 4 or samples.shape[1] != image.shape[0]:
        raise ValueError(f"{samples_h5}: posterior samples of shape {samples.shape}, not a cube of the "
                         f"{image.shape[0]} channels of {image_fits}")
    cubes = {"model": [tables.convolve_cube_with_beam(model, grids["model"].cell_arcsec, beam)],
             "tclean": [np.nan_to_num(image)],
             "resolve": [tables.convolve_cube_with_beam(s, grids["resolve"].cell_arcsec, beam) for s in samples]}
    paths = {"model": skymodel_fits, "tclean": image_fits, "resolve": mean_fits}
    out = {key: np.array([[_spectrum_at(c, grids[key], row, paths[key]) for c in cubes[key]] for row in truth])
           .reshape(len(truth), len(cubes[key]), image.shape[0]) for key in cubes}   # (source, sample, channel)
    return {**out, "truth": truth, "beam": beam, "channel_mhz": abs(grids["tclean"].dfreq_hz) / 1e6}


def line_table(truth_ecsv: str, skymodel_fits: str, images: dict[str, str], samples_h5: str, mean_fits: str,
               noise_rms_jy_beam: float) -> Table:
    """Per true source: its beam-peak SNR (at the first image's beam), the catalogue's line centre and width,
    and per tCLEAN cube of ``images`` (name -> FITS) the fitted continuum and line peak (mJy/beam), centre and
    FWHM (channels) and line integral (mJy/beam MHz, the Gaussian's area) of the model, of that cube and of
    RESOLVE (mean, std over the per-sample fits) at its beam."""
    truth = Table.read(truth_ecsv, format="ascii.ecsv")
    table = Table()
    table["source"] = truth["id"]
    table["true_centre_chan"] = np.asarray(truth["line_centre_chan"])
    table["true_fwhm_chan"] = np.asarray(truth["line_fwhm_chan"])
    columns = (("continuum_jy", "continuum_mjy", 1e3), ("line_peak_jy", "line_mjy", 1e3),
               ("line_centre_chan", "centre_chan", 1.0), ("line_fwhm_chan", "fwhm_chan", 1.0),
               ("line_integral_jy_mhz", "line_integral_mjy_mhz", 1e3))
    for name, image_fits in images.items():
        s = spectra(truth_ecsv, skymodel_fits, image_fits, samples_h5, mean_fits)
        if "snr" not in table.colnames:
            # the noise-free beam peak at the line centre over the noise
            centre = np.clip(np.rint(table["true_centre_chan"]).astype(int), 0, s["model"].shape[-1] - 1)
            table["snr"] = s["model"][np.arange(len(truth)), 0, centre] / noise_rms_jy_beam
        # (source, sample) arrays of each fitted parameter
        fitted = {}
        for key in ("model", "tclean", "resolve"):
            fits = [[line_fit(spectrum) for spectrum in per_source] for per_source in s[key]]
            fitted[key] = {k: np.array([[f[k] for f in per_source] for per_source in fits]).reshape(s[key].shape[:2])
                           for k in FIT_KEYS}
            fitted[key]["line_integral_jy_mhz"] = (fitted[key]["line_peak_jy"] * fitted[key]["line_fwhm_chan"]
                                                   * GAUSSIAN_AREA_PER_FWHM * s["channel_mhz"])
        for key, column, scale in columns:
            table[f"model_{name}_{column}"] = fitted["model"][key][:, 0] * scale
        for key, column, scale in columns:
            table[f"{name}_{column}"] = fitted["tclean"][key][:, 0] * scale
        table[f"{name}_line_ratio"] = table[f"{name}_line_mjy"] / table[f"model_{name}_line_mjy"]
        for key, column, scale in columns:
            table[f"resolve_{name}_{column}"] = np.nanmean(fitted["resolve"][key], axis=1) * scale
            table[f"resolve_{name}_{column}_std"] = _nanstd(fitted["resolve"][key]) * scale
        table[f"resolve_{name}_line_ratio"] = table[f"resolve_{name}_line_mjy"] / table[f"model_{name}_line_mjy"]
        table.meta[f"beam_{name}_arcsec_arcsec_deg"] = list(s["beam"])
    table.meta["note"] = _note(table, list(images), noise_rms_jy_beam)
    return table


def _nanstd(values: np.ndarray) -> np.ndarray:
    """Sample std (ddof 1) per row over the fits that converged; NaN where fewer than two did."""
    finite = np.isfinite(values)
    count = finite.sum(axis=1)
    mean = np.where(finite, values, 0).sum(axis=1) / np.maximum(count, 1)
    spread = np.where(finite, values - mean[:, None], 0) ** 2
    return np.where(count > 1, np.sqrt(spread.sum(axis=1) / np.maximum(count - 1, 1)), np.nan)


def _note(table: Table, names: list[str], noise: float) -> str:
    bright = table["snr"] >= BRIGHT_SNR
    parts = [f"line peak and continuum (mJy/beam), line centre and FWHM (channels) fitted to the spectrum at "
             f"each true source's position, the sky model (model_<image>) and each RESOLVE sample convolved with "
             f"that tCLEAN cube's beam; snr: the model's value there at the line centre over the channel noise "
             f"({noise * 1e3:g} mJy/beam); errors against the catalogue's centre and width; line integral: the "
             f"fitted Gaussian's area (mJy/beam MHz); below snr ~3 the fits describe noise, not a line"]
    for name in names if bright.any() else []:
        for label, method in ((name, f"tCLEAN {name}"), (f"resolve_{name}", "RESOLVE at its beam")):
            ratio = np.abs(table[f"{label}_line_ratio"][bright] - 1)
            centre = np.abs(table[f"{label}_centre_chan"][bright] - table["true_centre_chan"][bright])
            width = np.abs(table[f"{label}_fwhm_chan"][bright] / table["true_fwhm_chan"][bright] - 1)
            parts.append(f"{method}, the {int(bright.sum())} sources with snr >= {BRIGHT_SNR:g}: mean |line ratio - "
                         f"1| {np.nanmean(ratio):.3f}, |centre error| {np.nanmean(centre):.2f} channel, |FWHM ratio "
                         f"- 1| {np.nanmean(width):.3f}")
    return "; ".join(parts)


def spectra_figure(truth_ecsv: str, skymodel_fits: str, image_fits: str, samples_h5: str, mean_fits: str,
                   name: str, png: str, pdf: str) -> None:
    """RESOLVE's mean cube summed over channels with the true sources marked, then per source its spectrum at
    the true position: the model, tCLEAN and RESOLVE's mean with its 1-sigma band over the samples."""
    s = spectra(truth_ecsv, skymodel_fits, image_fits, samples_h5, mean_fits)
    truth, nsrc = s["truth"], len(s["truth"])
    ncol = min(3, nsrc + 1)
    nrow = int(np.ceil((nsrc + 1) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.4 * nrow), constrained_layout=True, squeeze=False)
    axes = axes.ravel()
    mean, header = fitsio.read_cube(mean_fits)
    grid = fitsio.Grid.from_header(header, mean_fits)
    figures.image_panel(axes[0], mean.sum(axis=0) * 1e3, grid, "RESOLVE mean, summed over channels",
                        "mJy/pixel x channels")
    x, y = grid.celestial_wcs().world_to_pixel_values(np.asarray(truth["ra_deg"]), np.asarray(truth["dec_deg"]))
    cx, cy = grid.centre
    for row, xi, yi in zip(truth, x, y):
        east, north = -(xi - cx) * grid.cell_arcsec, (yi - cy) * grid.cell_arcsec
        axes[0].annotate(str(row["id"]), (east, north), color="cyan", fontsize=9, ha="center", va="center")
    chan = np.arange(s["tclean"].shape[-1])
    for k, row in enumerate(truth):
        ax = axes[k + 1]
        band = s["resolve"][k] * 1e3
        middle, spread = band.mean(axis=0), band.std(axis=0, ddof=1)
        ax.plot(chan, s["model"][k, 0] * 1e3, color="black", lw=1.5, label="model")
        ax.step(chan, s["tclean"][k, 0] * 1e3, where="mid", color="tab:orange", lw=1, label=f"tCLEAN {name}")
        ax.plot(chan, middle, color="tab:blue", lw=1.2, label="RESOLVE mean")
        ax.fill_between(chan, middle - spread, middle + spread, color="tab:blue", alpha=0.3, lw=0)
        ax.set_title(f"source {row['id']}: line {row['line_flux_jy'] * 1e3:.3g} mJy (total) at channel "
                     f"{row['line_centre_chan']:.1f}", fontsize=9)
        ax.set_xlabel("channel")
        ax.set_ylabel("mJy/beam")
        if k == 0:
            ax.legend(fontsize=7)
    for ax in axes[nsrc + 1:]:
        ax.axis("off")
    figures.save(fig, png, pdf)

"""RESOLVE products: posterior images (FITS), samples (HDF5), power spectrum, hyperparameters, history.

Images are in Jy/pixel (the true sky: the primary beam is part of the
response, so no further correction is needed); divide by the pixel area in
arcsec^2 for Jy/arcsec^2. The comparison tables convolve them with tCLEAN's
restoring beams for Jy/beam. The relative uncertainty is std / mean.
"""

from __future__ import annotations

import csv

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nifty8 as ift  # noqa: E402
import numpy as np  # noqa: E402
from astropy.table import Table  # noqa: E402

from .. import fitsio, provenance, tables  # noqa: E402
from ..units import ARCSEC  # noqa: E402
from .sky import SkyModel  # noqa: E402


def sky_jy_per_pixel(sky: SkyModel, cell_arcsec: float) -> ift.Operator:
    return sky.sky.scale((cell_arcsec * ARCSEC) ** 2)


def _stat(samples, op) -> tuple[np.ndarray, np.ndarray]:
    mean, var = samples.sample_stat(op)
    return np.asarray(mean.val), np.sqrt(np.maximum(np.asarray(var.val), 0.0))


def write_images(samples, sky: SkyModel, grid: fitsio.Grid, out: dict, params) -> tuple[np.ndarray, np.ndarray]:
    """mean, std (Jy/pixel) and relative std FITS files; returns mean and std."""
    mean, std = _stat(samples, sky_jy_per_pixel(sky, grid.cell_arcsec))
    fitsio.write_cube(out["mean"], mean, grid.header("Jy/pixel"), params=params)
    fitsio.write_cube(out["std"], std, grid.header("Jy/pixel"), params=params)
    fitsio.write_cube(out["relative_std"], std / mean, grid.header(""), params=params)
    return mean, std


def write_samples(path: str, samples, sky: SkyModel, cell_arcsec: float, params) -> None:
    """All (local) posterior sky samples in Jy/pixel, ``(nsamples, ny, nx)`` (a cube: ``(nsamples, nchan, ny,
    nx)``), FITS orientation."""
    data = np.array([s.val for s in samples.iterator(sky_jy_per_pixel(sky, cell_arcsec))])
    with h5py.File(path, "w") as fh:
        fh.create_dataset("sky_jy_per_pixel", data=data.astype(np.float32), compression="gzip")
        for key, value in provenance.record(params).items():
            fh.attrs[key] = provenance.canonical_json(value)


def power_spectrum_samples(samples, sky: SkyModel, nbins: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """k (wavelengths) and power of ln I per sample, the k > 0 shells averaged (by mode count) in log bins.

    The first entry is the zero mode (k = 0).
    """
    space = sky.power_spectrum.target[0]
    k, modes = space.k_lengths, np.bincount(space.pindex.ravel()).astype(float)
    edges = np.geomspace(k[1], k[-1] * (1 + 1e-9), nbins + 1)
    shell_bin = np.concatenate([[0], 1 + np.clip(np.digitize(k[1:], edges) - 1, 0, nbins - 1)])
    weight = np.bincount(shell_bin, weights=modes)
    used = weight > 0
    k_binned = (np.bincount(shell_bin, weights=modes * k) / np.where(used, weight, 1))[used]
    power = np.array([(np.bincount(shell_bin, weights=modes * s.val) / np.where(used, weight, 1))[used]
                      for s in samples.iterator(sky.power_spectrum)])
    return k_binned, power


def write_power_spectrum(csv_path: str, png_path: str, pdf_path: str, samples, sky: SkyModel) -> None:
    """Power spectrum of ln I: samples, mean and std per k (CSV and log-log PNG + PDF)."""
    k, values = power_spectrum_samples(samples, sky)
    mean, std = values.mean(axis=0), values.std(axis=0)
    with open(csv_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["k_lambda", "mean", "std", *(f"sample_{i}" for i in range(len(values)))])
        for i in range(k.size):
            writer.writerow([f"{k[i]:.8g}", f"{mean[i]:.8g}", f"{std[i]:.8g}", *(f"{v:.8g}" for v in values[:, i])])
    fig, ax = plt.subplots(figsize=(5, 4))
    sel = k > 0  # the zero mode has no place on a log axis
    for v in values:
        ax.loglog(k[sel], v[sel], color="0.7", lw=0.7)
    ax.loglog(k[sel], mean[sel], color="k", lw=1.5, label="posterior mean")
    ax.fill_between(k[sel], np.maximum(mean - std, mean * 1e-3)[sel], (mean + std)[sel], color="C0", alpha=0.3,
                    label="+- 1 std")
    ax.set_xlabel("k (wavelengths)")
    ax.set_ylabel("power of ln I")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    fig.savefig(pdf_path)
    plt.close(fig)


def hyperparameter_table(samples, operators: dict, fixed_rows: list[tuple] = ()) -> Table:
    """The study's Table 1 layout: parameter, prior mean (+- std), posterior mean +- std; then ``fixed_rows``
    (settings chosen from the data, see :func:`.defaults.table_rows`)."""
    rows = list(fixed_rows)
    for name, (op, prior) in operators.items():
        mean, std = _stat(samples, op)
        rows.append((name, prior, float(mean), float(std), f"{float(mean):.4g} +- {float(std):.2g}"))
    return Table(rows=rows, names=("parameter", "prior", "posterior_mean", "posterior_std", "posterior"))


def write_hyperparameters(csv_path, md_path, samples, operators: dict, params, fixed_rows: list[tuple] = ()
                          ) -> None:
    table = hyperparameter_table(samples, operators, fixed_rows)
    table.meta["note"] = ("prior: mean +- std of the (log-)normal prior; offset is fixed, its row reports the "
                          "posterior mean of ln I over the padded field; noise scale multiplies the delivered sigma; "
                          "(data-driven) rows: settings the run left null, chosen from the data as the prior column "
                          "says")
    tables.write_table(table, csv_path, md_path, "RESOLVE hyperparameters", params=params)


def write_history(csv_path: str, png_path: str, history: list[dict]) -> None:
    """Energy and reduced chi-square per global iteration (CSV and PNG)."""
    Table(rows=[list(h.values()) for h in history], names=list(history[0])).write(csv_path, format="ascii.csv",
                                                                                  overwrite=True)
    it = [h["iteration"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(it, [h["energy"] for h in history], "o-")
    ax1.set_xlabel("global iteration")
    ax1.set_ylabel("energy (mean over samples)")
    ax2.plot(it, [h["reduced_chi2_data_weights"] for h in history], "o-", label="delivered weights")
    ax2.plot(it, [h["reduced_chi2_learned_weights"] for h in history], "s-", label="learned weights")
    ax2.axhline(1.0, color="0.5", lw=0.8)
    ax2.set_yscale("log")
    ax2.set_xlabel("global iteration")
    ax2.set_ylabel("reduced chi^2")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)

"""The published ift-resolve 0.15 (PyPI) and this project's RESOLVE on one measurement set, side by side.

    .venv/bin/python benchmarks/ift_resolve_peer.py [--ms ../shared/data/alma/hd142_b9cont_self_tav.ms]
        [--work /tmp/ift_peer] [--iterations 15] [--threads 2] [--out benchmarks/ift_resolve_peer.md]

Both image the same grid (128 x 128 over 3.84" by default, Stokes I, one grey sky for all spectral windows,
no primary beam: ift-resolve applies none here) with the same log-normal correlated-field sky prior and the
same 15-iteration MGVI schedule (sample pairs 2, 3, 5; CG limits 100, 250; the noise fixed for the first 3
iterations). The noise models are the closest each offers: ift-resolve's "cfm" (ln sigma-correction as a
correlated field over |uv| per window) and this project's "uvfield" (a log-normal scale per window times a
field over |uv|), with the same overall scale prior (mean 1, std 0.5) and the same smooth |uv| field. This
project runs with both responses: "exact" (gridder in every likelihood call, as ift-resolve's "full"
likelihood) and "psf" (its image-domain normal operator, which can only learn one scale per window, so that
run has no |uv| field).

Every run's posterior mean is judged by one evaluator, this project's: reduced chi^2 per spectral window
with the delivered weights at the sampled uv points (per real degree of freedom, 1 for a perfect fit at the
delivered noise), and fluxes in the image. Wall time and peak memory come from ``/usr/bin/time -v``.

ift-resolve needs Python <= 3.11, numpy < 2, nifty8 8.0 and a C++ compiler, so it gets its own virtual
environment (``--venv``, built with ``/usr/bin/env python3`` and the pins below); everything that needs
casacore / h5py / resolve for it runs in that venv. Its arrays come back in Jy/pixel in FITS orientation:
row = Dec increasing with index, column = RA decreasing with index, phase centre at ``(npix//2, npix//2)``
(ift-resolve's own array ``[0, 0, 0, i, j]`` is the transpose, handed to ducc0's wgridder with
``flip_v=True``, like this project's response does).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from workflow_lib import fitsio  # noqa: E402
from workflow_lib.resolve import compare, diagnostics, observation, response  # noqa: E402

ARCSEC = np.pi / 180 / 3600

# Found working on Python 3.11.7 (Debian, gcc), 2026-12.  matplotlib must be < 3.9: nifty8 8.0 calls
# pyplot.register_cmap, which 3.9 removed (the first plot after iteration 0 then crashes the run).
PINS = ["numpy==1.26.4", "scipy==1.17.1", "nifty8==8.0", "ducc0==0.42.0", "python-casacore==3.8.1",
        "astropy==7.2.3", "h5py==3.16.0", "matplotlib==3.8.4", "pybind11==3.1.0",
        "setuptools==84.2.1", "wheel==0.48.0"]
PACKAGE = "ift-resolve==0.15"  # sdist; compiles its pybind11 module, so pybind11 must be there first

# Prior of the log-normal correlated-field sky, ln(I / (Jy/sr)); (mean, std) pairs are log-normal priors
# on the CFM hyper-parameters (nifty8 CorrelatedFieldMaker), asperity/flexibility may be None.
SKY_PRIOR = {"zero mode offset": 26.0, "zero mode": (1.0, 0.1), "fluctuations": (5.0, 1.0),
             "loglogavgslope": (-2.0, 0.5), "flexibility": (1.2, 0.4), "asperity": (0.2, 0.2)}
# Noise: ift-resolve's "cfm" weighting learns ln(sigma correction) as a correlated field over |uv| per
# spectral window. Offset -0.11 and zero-mode std ~0.47 make the overall factor ~ log-normal with mean 1,
# std 0.5; small, smooth fluctuations keep it close to one scale factor per window.
NOISE_PRIOR = {"zero mode offset": -0.11, "zero mode": (0.47, 0.05), "fluctuations": (0.1, 0.05),
               "loglogavgslope": (-4.0, 0.5), "flexibility": (None, None), "asperity": (None, None)}


def ensure_venv(venv: Path) -> float:
    """Create the venv and install the pins if ``venv/bin/resolve`` is missing; returns seconds spent."""
    if (venv / "bin" / "resolve").exists():
        return 0.0
    t0 = time.time()
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-input", "--quiet"]
    subprocess.run(["/usr/bin/env", "python3", "-m", "venv", str(venv)], check=True)
    subprocess.run(pip + PINS, check=True)
    subprocess.run(pip + ["--no-build-isolation", PACKAGE], check=True)
    return time.time() - t0


def _venv_python(venv: Path, code: str, *args: str) -> str:
    """Run ``code`` with the venv's interpreter (outside any source tree) and return its stdout."""
    return subprocess.run([str(venv / "bin" / "python"), "-c", code, *args], check=True, text=True,
                          capture_output=True, cwd="/").stdout


_MS_INFO = """
import json, sys
from casacore.tables import table
ms = sys.argv[1]
names = table(ms + "/FIELD", ack=False).getcol("NAME")
nspw = table(ms + "/SPECTRAL_WINDOW", ack=False).nrows()
print(json.dumps({"fields": list(names), "nspw": nspw}))
"""


def _pairs(prefix: str, prior: dict) -> list[str]:
    lines = [f"{prefix} zero mode offset = {prior['zero mode offset']}"]
    for key in ["zero mode", "fluctuations", "loglogavgslope", "flexibility", "asperity"]:
        mean, std = prior[key]
        lines += [f"{prefix} {key} mean = {mean}", f"{prefix} {key} stddev = {std}"]
    return lines


def schedule(iterations: int) -> dict[str, list]:
    """MGVI schedule: noise fixed (point estimate) for the first 3 rounds, more samples later."""
    third = [min(3 * i // iterations, 2) for i in range(iterations)]
    fixed = min(3, iterations - 1)
    return {"n samples": [[2, 3, 5][t] for t in third],
            "sampling iteration limit": [100 if t == 0 else 250 for t in third],
            "optimizer iteration limit": [20 if t == 0 else 10 for t in third],
            "point estimates": ["weights" if i < fixed else "None" for i in range(iterations)],
            "constants": ["weights" if i < fixed else "None" for i in range(iterations)]}


def make_cfg(ms: Path, field: str, nspw: int, npix: int, fov_arcsec: float, iterations: int) -> str:
    """ift-resolve cfg text: Stokes I, one grey sky for all spectral windows, DATA column."""
    targets = ",".join(f"{ms}:({field}${spw}$DATA)" for spw in range(nspw))
    sched = {k: ",".join(map(str, v)) for k, v in schedule(iterations).items()}
    lines = ["[data]", f"science target = {targets}", "phase calibrator =", "flux calibrator =", "",
             "[response]", "double precision = True", "wgridding = False", "epsilon = 1e-9", "",
             "[sky]", "polarization = I", "freq mode = single",
             f"space npix x = {npix}", f"space npix y = {npix}",
             f"space fov x = {fov_arcsec}as", f"space fov y = {fov_arcsec}as",
             *_pairs("stokesI diffuse space i0", SKY_PRIOR), "point sources mode = none", "",
             "[weighting]", "enable = True", "model = cfm", "npix = 500", "zeropadding factor = 2",
             *_pairs("invcov", NOISE_PRIOR), "",
             "[optimization]", f"total iterations = {iterations}", "likelihood = full",
             *[f"{k} = {v}" for k, v in sched.items()],
             "optimizer = NewtonCG", "nonlinear sampling optimizer = None",
             "nonlinear sampling optimizer iteration limit = None", "reset = None", "save strategy = all"]
    return "\n".join(lines) + "\n"


# Reads the last iteration's sky (Jy/sr, [pol, time, freq, x, y]) and the data-weight chi^2 of its mean.
_LOAD = """
import sys, h5py, numpy as np, nifty8 as ift, resolve as rve
from resolve.constants import str2rad
from resolve.sky_model import default_sky_domain
h5, cfg_path, out = sys.argv[1:4]
with h5py.File(h5, "r") as f:
    samples = np.stack([f["samples"][k][()] for k in sorted(f["samples"], key=int)])[:, 0, 0, 0]
    mean = f["stats/mean"][()][0, 0, 0]
    std = f["stats/standard deviation"][()][0, 0, 0]
    dom = f.attrs["nifty domain"]
from configparser import ConfigParser
from resolve.config_utils import parse_data_config
cfg = ConfigParser(); cfg.read(cfg_path)
obs = [o.restrict_to_stokesi().average_stokesi() for o in parse_data_config(cfg)[2]]
n = mean.shape[0]; dx = str2rad(cfg["sky"]["space fov x"]) / n
sdom = ift.RGSpace(mean.shape, (dx, dx))
sky = ift.makeField(default_sky_domain(sdom=sdom), mean[None, None, None])
chi2 = []
for o in obs:
    r = rve.InterferometryResponse(o, sky.domain, False, 1e-9)
    res = (o.vis - r(sky)).val; w = o.weight.val
    chi2.append(float(np.sum(w * np.abs(res) ** 2) / np.sum(w > 0)))
np.savez(out, samples=samples, mean=mean, std=std, chi2=np.array(chi2), dx=dx)
"""


def _parse_time(stderr: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) from ``/usr/bin/time -v`` output."""
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", stderr).group(1)
    secs = sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall.split(":"))))
    rss = float(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr).group(1)) / 1024
    return secs, rss


def _last_chi2(stderr: str) -> list[float]:
    """Reduced chi^2 per spectral window (learned weights) from nifty's last minisanity table."""
    last = stderr.split("reduced χ²")[-1]
    return [float(x) for x in re.findall(r"\(varcov\) \d+\s+([-\d.eE+]+) ±", last)]


def run_ift_resolve(ms: Path, work: Path, venv: Path, npix: int, fov_arcsec: float, iterations: int,
                    nthreads: int = 2) -> dict:
    """Install (if needed) and run ift-resolve on a copy of ``ms``; return images, timing and memory."""
    install_s = ensure_venv(venv)
    work = Path(work).resolve()
    out = work / "ift_resolve"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    ms_copy = work / Path(ms).name
    shutil.rmtree(ms_copy, ignore_errors=True)
    shutil.copytree(ms, ms_copy)  # never let the tool near the original
    info = json.loads(_venv_python(venv, _MS_INFO, str(ms_copy)))
    if len(set(info["fields"])) != 1:
        raise ValueError(f"expected one field, got {info['fields']}")
    cfg = out / "resolve.cfg"
    cfg.write_text(make_cfg(ms_copy, info["fields"][0], info["nspw"], npix, fov_arcsec, iterations))

    t0 = time.time()
    proc = subprocess.run(["/usr/bin/time", "-v", str(venv / "bin" / "resolve"), "-j", str(nthreads),
                           cfg.name], cwd=out, text=True, capture_output=True)
    (out / "stdout.log").write_text(proc.stdout)
    (out / "stderr.log").write_text(proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"ift-resolve failed ({proc.returncode}), see {out / 'stderr.log'}")
    wall_s, rss_mib = _parse_time(proc.stderr)
    done = sorted((out / "sky").glob("iteration_*.hdf5"), key=lambda p: int(p.stem.split("_")[1]))
    iteration_end_s = [p.stat().st_mtime - t0 for p in done]

    npz = out / "posterior.npz"
    _venv_python(venv, _LOAD, str(done[-1]), str(cfg), str(npz))
    post = np.load(npz)
    pix_sr = float(post["dx"]) ** 2
    fits = lambda a: np.swapaxes(a, -1, -2) * pix_sr  # [x, y] Jy/sr -> [y, x] Jy/pixel
    mean = fits(post["mean"])
    return {"mean": mean, "std": fits(post["std"]), "samples": fits(post["samples"]),
            "unit": "Jy/pixel", "orientation": "FITS (ny, nx), RA decreasing with column, Dec increasing with row",
            "pixel_arcsec": float(post["dx"]) / ARCSEC, "total_flux_jy": float(mean.sum()),
            "wall_s": wall_s, "max_rss_mib": rss_mib, "install_s": install_s,
            "iteration_end_s": iteration_end_s,
            "reduced_chi2_learned_weights": _last_chi2(proc.stderr),
            "reduced_chi2_data_weights": post["chi2"].tolist(), "output_dir": str(out)}


def flux_within(image: np.ndarray, pixel_arcsec: float, radius_arcsec: float, centre=None) -> float:
    """Sum of a Jy/pixel image within ``radius_arcsec`` of ``centre`` (row, col; default phase centre)."""
    ny, nx = image.shape
    cy, cx = centre if centre is not None else (ny // 2, nx // 2)
    yy, xx = np.mgrid[:ny, :nx]
    return float(image[np.hypot(yy - cy, xx - cx) * pixel_arcsec <= radius_arcsec].sum())


def project_run(ms: Path, npix: int, fov_arcsec: float, iterations: int, mode: str) -> dict:
    """This project's run description with ift-resolve's grid, priors and schedule (see make_cfg)."""
    sched = schedule(iterations)
    phases = []
    for i, pairs in enumerate(sched["n samples"]):
        phase = {"iterations": 1, "samples": pairs, "learn_noise": sched["constants"][i] != "weights",
                 "kl_iterations": sched["optimizer iteration limit"][i],
                 "sampling_iterations": sched["sampling iteration limit"][i]}
        if phases and {k: v for k, v in phases[-1].items() if k != "iterations"} == \
                {k: v for k, v in phase.items() if k != "iterations"}:
            phases[-1]["iterations"] += 1
        else:
            phases.append(phase)
    sky = {"offset": SKY_PRIOR["zero mode offset"], "zero_mode": list(SKY_PRIOR["zero mode"]),
           "fluctuations": list(SKY_PRIOR["fluctuations"]), "slope": list(SKY_PRIOR["loglogavgslope"]),
           "flexibility": list(SKY_PRIOR["flexibility"]), "asperity": list(SKY_PRIOR["asperity"])}
    uvfield = {"zero_mode": [0.1, 0.05], "fluctuations": list(NOISE_PRIOR["fluctuations"]),
               "slope": list(NOISE_PRIOR["loglogavgslope"]), "flexibility": None, "asperity": None}
    return {"ms": str(Path(ms).resolve()), "name": f"peer_{mode}",
            "image": {"npix": npix, "cell_arcsec": fov_arcsec / npix, "primary_beam": "none"},
            "sky": sky, "noise": {"model": "uvfield", "scale": [1.0, 0.5], "uvfield": uvfield} if mode == "exact"
            else {"model": "scale", "scale": [1.0, 0.5]},  # the psf likelihood cannot reweight visibilities
            "response": {"mode": mode, "epsilon": 1e-9 if mode == "exact" else 1e-6},
            "inference": {"schedule": phases}}


def run_project(ms: Path, work: Path, npix: int, fov_arcsec: float, iterations: int, mode: str,
                threads: int) -> dict:
    """`alma-imaging resolve` with :func:`project_run`; posterior mean and samples in Jy/pixel."""
    out = Path(work).resolve() / f"project_{mode}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    run_yaml = out / "run.yaml"
    run_yaml.write_text(yaml.safe_dump(project_run(ms, npix, fov_arcsec, iterations, mode)))
    cli = Path(sys.executable).parent / "alma-imaging"
    proc = subprocess.run(["/usr/bin/time", "-v", str(cli), "resolve", str(run_yaml), "--out", str(out / "resolve"),
                           "--threads", str(threads)], text=True, capture_output=True)
    (out / "stderr.log").write_text(proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"alma-imaging resolve failed ({proc.returncode}), see {out / 'stderr.log'}")
    wall_s, rss_mib = _parse_time(proc.stderr)
    mean, _ = fitsio.read_cube(str(out / "resolve" / "mean.fits"))
    return {"mean": mean[0], "samples": compare.read_samples(str(out / "resolve" / "samples.h5")),
            "wall_s": wall_s, "max_rss_mib": rss_mib, "output_dir": str(out)}


def evaluate(obs, images: dict[str, np.ndarray], cell_arcsec: float) -> dict[str, dict]:
    """Per run: reduced chi^2 per spectral window of the posterior mean (delivered weights), total flux,
    flux within 1.5" of the phase centre and of the brightest pixel, peak, and the sample spread of the
    flux within 1.5" of the centre."""
    npix = next(iter(images.values()))["mean"].shape[0]
    gridder = response.Gridder(obs.uvw, cell_arcsec, 1e-9, response.use_wgridding(obs, npix, cell_arcsec, "auto"))
    out = {}
    for name, run in images.items():
        mean = run["mean"]
        vis = gridder.degrid(mean)
        peak = np.unravel_index(np.argmax(mean), mean.shape)
        centre = [flux_within(s, cell_arcsec, 1.5) for s in run["samples"]]
        out[name] = {"chi2": [diagnostics.reduced_chi2(obs, vis, obs.spw_index == k) for k in range(len(obs.spws))],
                     "total": float(mean.sum()), "centre_1.5": flux_within(mean, cell_arcsec, 1.5),
                     "centre_1.5_std": float(np.std(centre)), "peak_1.5": flux_within(mean, cell_arcsec, 1.5, peak),
                     "peak_mjy_per_pixel": float(mean.max() * 1e3)}
    return out


def table(results: dict[str, dict], scores: dict[str, dict], spws: list[int], args) -> str:
    ift = results["ift-resolve 0.15"]["wall_s"]
    head = ("| run | wall s | vs ift-resolve | peak RSS MiB | " + " | ".join(f"chi2 spw {s}" for s in spws)
            + " | total Jy | within 1.5\" of centre, Jy | within 1.5\" of peak, Jy | peak mJy/pixel |")
    lines = [head, "|" + "---|" * (8 + len(spws))]
    for name, res in results.items():
        sc = scores[name]
        lines.append(f"| {name} | {res['wall_s']:.0f} | {ift / res['wall_s']:.1f}x | {res['max_rss_mib']:.0f} | "
                     + " | ".join(f"{c:.2f}" for c in sc["chi2"])
                     + f" | {sc['total']:.2f} | {sc['centre_1.5']:.2f} +- {sc['centre_1.5_std']:.2f} | "
                       f"{sc['peak_1.5']:.2f} | {sc['peak_mjy_per_pixel']:.2f} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ms", type=Path, default=ROOT.parent / "shared" / "data" / "alma" / "hd142_b9cont_self_tav.ms")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ift_peer"))
    ap.add_argument("--venv", type=Path, default=Path("~/.cache/alma-imaging/ift-resolve-0.15").expanduser())
    ap.add_argument("--npix", type=int, default=128)
    ap.add_argument("--fov", type=float, default=3.84, help="field of view, arcsec")
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", nargs="+", default=["psf", "exact"], help="this project's responses to run")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "ift_resolve_peer.md")
    a = ap.parse_args()
    if not a.ms.exists():
        sys.exit(f"{a.ms}: no such measurement set")
    results = {}
    for mode in a.modes:
        results[f"this project, {mode}"] = run_project(a.ms, a.work, a.npix, a.fov, a.iterations, mode, a.threads)
        print(f"this project ({mode}): {results[f'this project, {mode}']['wall_s']:.0f} s", flush=True)
    ift = run_ift_resolve(a.ms, a.work, a.venv, a.npix, a.fov, a.iterations, nthreads=a.threads)
    results = {"ift-resolve 0.15": ift, **results}
    obs = observation.read(a.ms)
    scores = evaluate(obs, results, a.fov / a.npix)
    text = [f"# ift-resolve 0.15 and this project's RESOLVE on {a.ms.name}", "",
            f"`python benchmarks/ift_resolve_peer.py --iterations {a.iterations} --threads {a.threads}` "
            f"({time.strftime('%Y-%m-%d')}; {a.npix} x {a.npix} over {a.fov}\", {a.threads} threads each, one "
            "after the other on this machine). Reduced chi^2 per real degree of freedom with the delivered "
            "weights, all from this project's evaluator at the sampled uv points; fluxes from the posterior "
            "means (the +- is the spread over the posterior samples). ift-resolve's wall includes the plots and "
            "sample files it writes after every iteration (save strategy all). "
            + (f"Its venv was installed in {ift['install_s']:.0f} s." if ift["install_s"] else
               "Its venv was already there."), "",
            table(results, scores, obs.spws, a), "",
            "ift-resolve's own reduced chi^2 of its mean per complex visibility (2 ideal), with the delivered "
            "weights (twice the table's value when both read the data and orient the image alike): "
            + ", ".join(f"{c:.2f}" for c in ift["reduced_chi2_data_weights"]) + "; with its learned weights: "
            + ", ".join(f"{c:.2f}" for c in ift["reduced_chi2_learned_weights"]) + ".", "",
            "What differs between the runs beyond the response: the noise models (ift-resolve's \"cfm\" on 500 "
            "|uv| bins; this project's per-window scale times a 64-bin |uv| field with the exact response, the "
            "per-window scale alone with the psf response) and the minimisers' details (both NewtonCG with the "
            "same iteration limits)."]
    a.out.write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()

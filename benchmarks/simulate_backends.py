"""Seconds per dirty cube: CASA (simobserve + noise + tclean niter 0) vs the ducc backend, same sky, same uvw.

Usage: python benchmarks/simulate_backends.py [--npix 256] [--nchan 128] [--cubes 2] [--out benchmarks/simulate_backends.md]

Both backends simulate the same random cubes of the demo config's source
population on the demo observation (ALMA C-3, 2400 s, 10 s integrations).
Timings are single-threaded wall seconds per cube, the ducc backend with both
noise draws (``dataset.noise_draw``: per visibility, the reference, and in the
image domain); its one-off setup (CASA uv coverage + primary beam, NUFFT
plans, PSFs, noise spectra) is reported separately and amortised over a shard.
Agreement is the per-channel RMS of (ducc - CASA) over the CASA peak on
noise-free cubes.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npix", type=int, default=256)
    parser.add_argument("--nchan", type=int, default=128)
    parser.add_argument("--cubes", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "simulate_backends.md"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    sys.argv = sys.argv[:1]  # casaconfig parses sys.argv when CASA is imported

    import numpy as np

    from workflow_lib import config, fitsio, provenance, seeds, skymodels
    from workflow_lib.imaging import tclean_to_fits
    from workflow_lib.simulate.coverage import make_coverage
    from workflow_lib.simulate.ducc_backend import ChannelImager, simulate_cube
    from workflow_lib.simulate.observe import simulate_observation

    cfg = config.load(ROOT / "config" / "config.yaml")
    obs = cfg["observation"]
    spec = {**cfg["dataset"], "npix": args.npix, "nchan": args.nchan}
    grid = skymodels.cube_grid(spec, obs)
    tmp = Path(tempfile.mkdtemp(prefix="bench_sim_"))
    try:
        t0 = time.perf_counter()
        coverage = make_coverage(grid, obs, str(tmp / "coverage.h5"), str(tmp / "casa.log"))
        t_coverage = time.perf_counter() - t0
        imager = ChannelImager(coverage, epsilon=spec["epsilon"])
        t0 = time.perf_counter()
        for c in range(grid.nchan):
            imager.plan(c)
            imager.convolve_psf(np.zeros((grid.ny, grid.nx)), c)
            imager.noise_amplitude(c)
        t_setup = time.perf_counter() - t0
        rows = []
        for index in range(args.cubes):
            sources = skymodels.draw_sources(spec, grid, seeds.rng(cfg["seed"], "cube", index))
            sky = skymodels.render_cube(sources, grid)
            t0 = time.perf_counter()
            simulate_cube(imager, sky, spec["noise"], seeds.rng(cfg["seed"], "noise", "bench", index))
            t_ducc = time.perf_counter() - t0
            t0 = time.perf_counter()
            simulate_cube(imager, sky, spec["noise"], seeds.rng(cfg["seed"], "noise", "bench", index), "image")
            t_image = time.perf_counter() - t0
            clean_ducc, _ = simulate_cube(imager, sky, {"rms_jy_per_beam": 0.0}, seeds.rng(0))

            cube_dir = tmp / f"cube_{index}"
            cube_dir.mkdir()
            fitsio.write_cube(cube_dir / "sky.fits", sky, grid.header("Jy/pixel"))
            t0 = time.perf_counter()
            simulate_observation(skymodel=str(cube_dir / "sky.fits"), ms=str(cube_dir / "sim.ms"),
                                 record=str(cube_dir / "noise.json"), observation=obs, noise={"rms_jy_per_beam": 0.0},
                                 seed=cfg["seed"], stream=["bench", index], casa_log=str(tmp / "casa.log"))
            tclean_to_fits(ms=str(cube_dir / "sim.ms"), skymodel=str(cube_dir / "sky.fits"),
                           image=str(cube_dir / "d.fits"), casa_log=str(tmp / "casa.log"))
            t_casa = time.perf_counter() - t0
            casa, _ = fitsio.read_cube(cube_dir / "d.fits")
            rel = np.sqrt(np.mean((clean_ducc - casa) ** 2, axis=(1, 2))) / np.abs(casa).max()
            rows.append({"cube": index, "casa_s": t_casa, "ducc_s": t_ducc, "ratio": t_casa / t_ducc,
                         "image_s": t_image, "image_ratio": t_casa / t_image,
                         "max_rel_rms_per_channel": float(rel.max()), "median_rel_rms": float(np.median(rel))})
            shutil.rmtree(cube_dir)
            print(json.dumps(rows[-1]), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    casa_s = float(np.mean([r["casa_s"] for r in rows]))
    ducc_s = float(np.mean([r["ducc_s"] for r in rows]))
    image_s = float(np.mean([r["image_s"] for r in rows]))
    lines = [
        f"# Simulation backends: {args.npix} x {args.npix} x {args.nchan} cubes",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {platform.system()}; single-threaded; "
        f"{coverage.uvw_m.shape[0]} visibilities per channel (ALMA {obs['antenna_config']}, "
        f"{obs['total_time_s']} s / {obs['integration_s']} s). Command: "
        f"`python benchmarks/simulate_backends.py --npix {args.npix} --nchan {args.nchan} --cubes {args.cubes}`",
        "",
        "| cube | CASA s/cube | ducc s/cube, noise per visibility | speed-up | ducc s/cube, noise in the image "
        "domain | speed-up | max rel. RMS (ducc - CASA) per channel | median |",
        "|---|---|---|---|---|---|---|---|",
        *[f"| {r['cube']} | {r['casa_s']:.1f} | {r['ducc_s']:.2f} | {r['ratio']:.0f}x | {r['image_s']:.2f} | "
          f"{r['image_ratio']:.0f}x | {r['max_rel_rms_per_channel']:.2e} | {r['median_rel_rms']:.2e} |"
          for r in rows],
        f"| mean | {casa_s:.1f} | {ducc_s:.2f} | {casa_s / ducc_s:.0f}x | {image_s:.2f} | {casa_s / image_s:.0f}x | | |",
        "",
        f"One-off ducc setup per observation setup: CASA uv coverage + primary beam {t_coverage:.1f} s; "
        f"NUFFT plans, PSFs and noise spectra {t_setup:.1f} s per shard job (amortised over its cubes).",
        "",
        f"Versions: {json.dumps(provenance.versions())}",
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

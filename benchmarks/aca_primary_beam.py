"""The ACA 7 m primary beam as CASA computes it, tabulated for RESOLVE (``image.primary_beam: alma7m``).

Usage: python benchmarks/aca_primary_beam.py [--out workflow_lib/resolve/data/alma7m_pb.csv]

No Airy pattern matches CASA's 7 m beam better than 2.5% (the 12 m one matches to 1%), so the pattern is taken
from CASA itself: simobserve observes a point source with the ACA (``aca.cycle9``, 7 m dishes) and tclean
(niter 0, ``pblimit`` 0.001) writes its ``.pb`` image. The azimuthal average of that image, as a function of
radius times frequency (arcsec x GHz, the scaling of any aperture's pattern), is the table; CASA's pattern
ends where its power is about 0.002, and so does the table (zero beyond). The script makes it at 230 GHz and
checks it against the same measurement at 100 GHz (printed: the largest difference).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
STEP = 50.0          # arcsec x GHz per table row
NPIX = 256


def measure(ghz: float, cell_arcsec: float, work: Path) -> tuple[np.ndarray, np.ndarray]:
    """(radius x frequency in arcsec GHz, power) of every pixel of tclean's .pb of an ACA observation."""
    from workflow_lib import fitsio
    from workflow_lib.casa import casa, working_directory
    from workflow_lib.simulate.casa_backend import simobserve

    grid = fitsio.Grid(nx=NPIX, ny=NPIX, cell_arcsec=cell_arcsec, ra_deg=239.1746, dec_deg=-35.0,
                       freq0_hz=ghz * 1e9, dfreq_hz=2e9, nchan=1)
    sky = np.zeros((NPIX, NPIX))
    sky[NPIX // 2, NPIX // 2] = 0.01
    fitsio.write_cube(work / "sky.fits", sky, grid.header("Jy/pixel"), params={})
    observation = {"antenna_config": "aca.cycle9", "ref_date": "2024/03/21", "hour_angle": "transit",
                   "integration_s": 60, "total_time_s": 600}
    log = str(work / "casa.log")
    ms = simobserve(str(work / "sky.fits"), str(work / "aca.ms"), observation, log)
    with working_directory(work / "tclean"):
        tasks = casa(log).tasks
        tasks.tclean(vis=str(ms), imagename="img", imsize=[NPIX, NPIX], cell=f"{cell_arcsec}arcsec",
                     phasecenter=f"J2000 {grid.ra_deg}deg {grid.dec_deg}deg", specmode="mfs", niter=0,
                     pblimit=0.001, gridder="standard")
        tasks.exportfits(imagename="img.pb", fitsimage="pb.fits", overwrite=True)
    pb, _ = fitsio.read_cube(work / "tclean" / "pb.fits")
    yy, xx = np.mgrid[:NPIX, :NPIX]
    radius = np.hypot(xx - NPIX // 2, yy - NPIX // 2) * cell_arcsec
    ok = np.isfinite(pb[0])
    shutil.rmtree(work, ignore_errors=True)
    return radius[ok] * ghz, pb[0][ok]


def profile(x: np.ndarray, power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean power in bins of ``STEP``, at the bins' mean x (the first bin holds only the centre pixel)."""
    edges = np.arange(0.0, x.max() + STEP, STEP)
    index = np.digitize(x, edges) - 1
    keep = [i for i in range(edges.size - 1) if np.any(index == i)]
    return np.array([x[index == i].mean() for i in keep]), np.array([power[index == i].mean() for i in keep])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "workflow_lib" / "resolve" / "data" / "alma7m_pb.csv"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        x230, p230 = measure(230.0, 0.5, Path(tmp) / "230")
        x100, p100 = measure(100.0, 1.0, Path(tmp) / "100")
    # CASA's pattern ends where its power is about 0.002 (zero beyond: tclean blanks the .pb there), inside
    # both images
    xs, ps = profile(x230, p230)
    check = np.interp(x100, xs, ps, right=0.0)
    print(f"table: {xs.size} rows up to {xs[-1]:.0f} arcsec GHz (power {ps[-1]:.4f}, zero beyond); 100 GHz "
          f"against the 230 GHz table: largest difference {np.abs(check - p100).max():.4f} "
          f"(CASA's support ends at {x100.max():.0f} arcsec GHz at 100 GHz)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w") as fh:
        fh.write("# ACA 7 m primary beam (power) as CASA 6.7 tclean computes it, azimuthal mean; "
                 "written by benchmarks/aca_primary_beam.py\n")
        fh.write("radius_x_freq_arcsec_ghz,power\n")
        for x, p in zip(xs, ps):
            fh.write(f"{x:.3f},{p:.6f}\n")


if __name__ == "__main__":
    main()

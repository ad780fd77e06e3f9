"""Simulate an interferometric observation of a sky model with CASA ``simobserve``.

simobserve writes a project directory into the cwd; we run it in a scratch
directory beside the output and move the measurement set into place only when
it is complete, so a failed run leaves nothing that looks finished.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..casa import antenna_config_path, casa, working_directory
from ..fitsio import Grid, read_cube


def simobserve(skymodel_fits: str, ms_out: str, observation: dict, casa_log: str | None = None,
               thermal_noise: dict | None = None, noise_free_out: str | None = None,
               pointings: list[tuple[float, float]] | None = None) -> Path:
    """Visibilities of ``skymodel_fits`` (Jy/pixel) in a new measurement set ``ms_out``.

    ``observation``: antenna_config (casadata name), phase_centre, ref_date,
    hour_angle, integration_s, total_time_s. One pointing at the sky model's
    centre, or a mosaic of ``pointings`` (RA, Dec in degrees; one field each,
    visited in turn, ``total_time_s`` shared among them).
    Noise-free unless ``thermal_noise`` is given: then CASA's own thermal noise
    (``thermalnoise="tsys-atm"``: system temperature from its atmosphere model
    at ``pwv_mm``, random draws from the integer ``seed``), and the noise-free
    measurement set simobserve also writes goes to ``noise_free_out`` if given.
    """
    skymodel = Path(skymodel_fits).resolve()
    _, header = read_cube(skymodel)  # fail early on a model without WCS
    grid = Grid.from_header(header, str(skymodel))
    antennas = antenna_config_path(observation["antenna_config"])
    out = Path(ms_out).resolve()
    scratch = out.parent / f".{out.name}.simobserve"
    shutil.rmtree(scratch, ignore_errors=True)
    noise = {"thermalnoise": ""}
    if thermal_noise is not None:
        noise = {"thermalnoise": "tsys-atm", "user_pwv": float(thermal_noise["pwv_mm"]),
                 "seed": int(thermal_noise["seed"])}
    tasks = casa(casa_log).tasks
    scratch.mkdir(parents=True)
    if pointings is None:
        where = dict(setpointings=True, mapsize=["0arcsec", "0arcsec"],
                     direction=f"J2000 {grid.ra_deg}deg {grid.dec_deg}deg")
    else:
        ptgfile = scratch / "pointings.txt"
        ptgfile.write_text("".join(f"J2000 {float(ra)!r}deg {float(dec)!r}deg\n" for ra, dec in pointings))
        where = dict(setpointings=False, ptgfile=str(ptgfile))
    with working_directory(scratch):
        tasks.simobserve(
            project="sim", skymodel=str(skymodel), **where,
            obsmode="int", antennalist=str(antennas), refdate=observation["ref_date"],
            hourangle=observation["hour_angle"], integration=f"{observation['integration_s']}s",
            totaltime=f"{observation['total_time_s']}s", graphics="none", verbose=False, overwrite=True, **noise)
    noise_free = scratch / "sim" / f"sim.{antennas.stem}.ms"
    produced = noise_free if thermal_noise is None else noise_free.with_suffix(".noisy.ms")
    if not produced.is_dir():
        raise RuntimeError(f"simobserve did not write {produced}; see the CASA log {casa_log}")
    moves = [(produced, out)]
    if thermal_noise is not None and noise_free_out is not None:
        moves.append((noise_free, Path(noise_free_out).resolve()))
    for source, target in moves:
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(source), str(target))
    shutil.rmtree(scratch, ignore_errors=True)
    return out

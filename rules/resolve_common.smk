# Helpers of rules/resolve.smk: the runs of the config, their files and parameters.
from pathlib import Path

from workflow_lib.resolve import settings as resolve_settings

RESOLVE = config["resolve"]


def _local_file(data):
    """The run's own measurement set or uvfits file (relative to the workflow directory); None for downloads."""
    return data.get("path", data.get("uvfits"))


def _absent_optional(run):
    data = run["data"]
    return data.get("optional") and not (Path(workflow.basedir) / _local_file(data)).exists()


# runs that download public data only take part when the network is allowed (`--config network=true`);
# optional local data that this machine lacks is skipped too; so are runs switched off (enabled: false)
ENABLED_RUNS = {name: run for name, run in RESOLVE["runs"].items() if run["enabled"]}
RESOLVE_RUNS = {
    name: run
    for name, run in ENABLED_RUNS.items()
    if (resolve_settings.source(run) != "url" or config["network"]) and not _absent_optional(run)
}
RESOLVE_OFFLINE = sorted(n for n, r in ENABLED_RUNS.items() if resolve_settings.source(r) == "url")
RESOLVE_ABSENT = sorted(n for n, r in ENABLED_RUNS.items() if _absent_optional(r))
if RESOLVE_OFFLINE and not config["network"]:
    logger.info(
        f"RESOLVE runs {', '.join(RESOLVE_OFFLINE)} skipped: they download public archive data "
        "and the network is off (--config network=true allows it)"
    )
if RESOLVE_ABSENT:
    logger.warning(
        f"RESOLVE runs {', '.join(RESOLVE_ABSENT)} skipped: their measurement set is not on this machine "
        f"({', '.join(_local_file(RESOLVE['runs'][n]['data']) for n in RESOLVE_ABSENT)} relative to {workflow.basedir})"
    )
RESOLVE_OBSERVED = [n for n, r in RESOLVE["runs"].items() if resolve_settings.source(r) != "simulated"]
RESOLVE_CUBES = [n for n, r in RESOLVE["runs"].items() if resolve_settings.spine_cube(r)]   # of a simulated cube
RESOLVE_PRODUCTS = resolve_settings.FILES


wildcard_constraints:
    run="|".join(RESOLVE["runs"]) or "(?!)",
    observed="|".join(RESOLVE_OBSERVED) or "(?!)",
    cube_run="|".join(RESOLVE_CUBES) or "(?!)",


def resolve_files(run, keys=RESOLVE_PRODUCTS):
    return {k: f"{R}/{run}/resolve/{RESOLVE_PRODUCTS[k]}" for k in keys}


# products of rule `resolve` that go into the HTML report, with their captions
RESOLVE_REPORTED = {"power_png": "resolve_power_spectrum", "hyper_csv": "resolve_hyperparameters",
                    "history_png": "resolve_history", "fit_csv": "resolve_fit"}


def resolve_rule_outputs():
    """resolve_files("{run}") with the reported products wrapped for the report, one subcategory per run."""
    return {
        k: report(path, caption=f"../report/{RESOLVE_REPORTED[k]}.rst", category="RESOLVE", subcategory="{run}")
        if k in RESOLVE_REPORTED else path
        for k, path in resolve_files("{run}").items()
    }


def resolve_report(path, caption, subcategory):
    return report(path, caption=f"../report/{caption}.rst", category="RESOLVE", subcategory=subcategory)


def resolve_ms(wildcards):
    data = RESOLVE["runs"][wildcards.run]["data"]
    if "simulated" in data:   # a simulated field (the run's name) or cube
        return f"{R}/{data['simulated']}/sim.ms"
    return f"resources/{wildcards.run}.ms"


def local_ms(wildcards):
    """A local measurement set or uvfits file named in the config, as an absolute path; [] for downloads."""
    local = _local_file(RESOLVE["runs"][wildcards.observed]["data"])
    return str(Path(workflow.basedir) / local) if local else []


def fetched_data(wildcards):
    """The data section of a real-data run, a local path made absolute."""
    data = dict(RESOLVE["runs"][wildcards.observed]["data"])
    for key in ("path", "uvfits"):
        if key in data:
            data[key] = local_ms(wildcards)
    return data


DATA_DRIVEN_NPIX = 1024  # what memory and run time assume for a grid the data will choose
# what memory assumes for a real mosaic, whose pointings and windows are only known once it is read, and for
# a real cube whose channels are not selected
ASSUMED_MOSAIC_POINTINGS, ASSUMED_WINDOWS, ASSUMED_CHANNELS = 50, 4, 64


def _planes(run):
    """The image planes of a run: 1, or a cube's channels (the simulated cube's, the selected or assumed)."""
    data = run["data"]
    if not data["cube"]:
        return 1
    if resolve_settings.spine_cube(run):
        return config["cubes"]["nchan"]
    return data["channels"][1] - data["channels"][0] if data["channels"] else ASSUMED_CHANNELS


def resolve_mem_mb(wildcards, attempt):
    """Memory in MB: visibilities are small next to the images, samples and FFT buffers of the model, plus,
    for a mosaic, the fast path's PSF and dirty image per pointing and window beyond the first (about 40 bytes
    per image pixel each), and for a cube about 2 kB per pixel of each further plane (a guess above the 2.1 GB
    measured for 64 x 64 x 32); times the attempt, as `per_attempt`."""
    run = RESOLVE["runs"][wildcards.run]
    npix = run["image"]["npix"] or DATA_DRIVEN_NPIX
    blocks = 1
    if run["data"]["mosaic"]:
        pointings = (len(config["mosaic"]["pointings_arcsec"]) if wildcards.run == "mosaic"
                     else ASSUMED_MOSAIC_POINTINGS)
        blocks = pointings * (len(run["data"]["spws"] or []) or ASSUMED_WINDOWS)
    planes = _planes(run)
    return int(3000 + 0.02 * npix**2 + 4e-5 * npix**2 * (blocks - 1) + 2e-3 * npix**2 * (planes - 1)) * attempt


def resolve_runtime(wildcards):
    """Minutes: generous, iterations times image size (a cube: times its planes over 32; 64 x 64 x 32 took 4
    minutes for 6 iterations)."""
    run = RESOLVE["runs"][wildcards.run]
    iterations = sum(p["iterations"] for p in run["inference"]["schedule"])
    size = ((run["image"]["npix"] or DATA_DRIVEN_NPIX) / 128) ** 2 * max(1, _planes(run) / 32)
    return int(30 + 5 * iterations * max(1, size))


def compare_images(run, product="image_pbcor"):
    """A tCLEAN product (default: the pb-corrected image) of each comparison method of a run, in their order;
    those of a simulated cube are the cube's own."""
    target = resolve_settings.spine_cube(RESOLVE["runs"][run]) or run
    return [product_files(f"{R}/{target}/images", m)[product] for m in RESOLVE["runs"][run]["compare"]["methods"]]


def spine_file(name):
    """Input function: file ``name`` of the simulated cube that run ``cube_run`` images."""
    return lambda w: f"{R}/{resolve_settings.spine_cube(RESOLVE['runs'][w.cube_run])}/{name}"


def resolve_outputs():
    out = []
    for run in RESOLVE_RUNS:
        out += list(resolve_files(run).values())
        if run in RESOLVE_CUBES:
            out += [f"{R}/tables/resolve_{run}_lines.md", f"{R}/figures/resolve_{run}.png"]
            continue
        if RESOLVE_RUNS[run]["data"]["cube"]:   # a cube without a truth catalogue: the mean and std cubes
            continue
        if run == "continuum":
            out += [f"{R}/tables/resolve_continuum_peak_flux.md", f"{R}/tables/resolve_calibration.md"]
        elif run == "mosaic":
            out += [f"{R}/tables/resolve_mosaic_peak_flux.md", f"{R}/tables/resolve_mosaic_calibration.md"]
        elif run == "decrement":
            out += [f"{R}/tables/resolve_decrement_flux.md", f"{R}/tables/resolve_decrement_calibration.md"]
        else:
            out += [f"{R}/tables/resolve_{run}_flux.md", f"{R}/tables/resolve_{run}_uv.md"]
        out.append(f"{R}/figures/resolve_{run}.png")
    return out


PAPER_OUTPUTS.extend(resolve_outputs())

"""The ``resolve`` config section: the checks a schema cannot express (errors name the key) and the
files every run writes."""

from __future__ import annotations

from ..config import ConfigError

# runs that image the workflow's own simulations: the run's name is the simulated observation it images
SIMULATED_RUNS = ("continuum", "mosaic", "decrement")
# a run of any other name images one of the simulated spectral-line cubes (``data.simulated: cubes/cube_NNNN``)
SPINE_CUBE_PREFIX = "cubes/cube_"

# every product of a RESOLVE run: keyword of ``steps.run`` (and rule output name) -> file name (here, not in
# products.py, so that the Snakefile can read it without importing NIFTy)
FILES = {
    "mean": "mean.fits",
    "std": "std.fits",
    "relative_std": "relative_std.fits",
    "samples": "samples.h5",
    "power_csv": "power_spectrum.csv",
    "power_png": "power_spectrum.png",
    "power_pdf": "power_spectrum.pdf",
    "hyper_csv": "hyperparameters.csv",
    "hyper_md": "hyperparameters.md",
    "history_csv": "history.csv",
    "history_png": "history.png",
    "fit_csv": "fit.csv",
    "fit_md": "fit.md",
}


def source(run: dict) -> str:
    """Where a run's measurement set comes from: simulated, path, uvfits or url (the schema makes it exactly one)."""
    return next(k for k in ("simulated", "path", "uvfits", "url") if k in run["data"])


def spine_cube(run: dict) -> str | None:
    """The simulated cube a run images (its target, ``cubes/cube_NNNN``), None for any other data."""
    simulated = run["data"].get("simulated", "")
    return simulated if simulated.startswith(SPINE_CUBE_PREFIX) else None


def signed(prior: dict) -> bool:
    """Whether the sky prior subtracts an absorption field (``absorption.enabled``)."""
    return bool(prior.get("absorption", {}).get("enabled"))


def sky_signed_or_points(prior: dict) -> bool:
    """Whether a sky prior adds what only a one-plane image has: absorption or point sources."""
    return signed(prior) or prior.get("point_sources", {}).get("q_jy_per_pixel") is not None


def check(config: dict) -> None:
    section = config["resolve"]
    methods = config["imaging"]["methods"]
    for name, run in section["runs"].items():
        if not run["enabled"]:   # left out: its settings may refer to methods this config does not make
            continue
        key = f"resolve.runs.{name}"
        kind, cube = source(run), spine_cube(run)
        if cube is not None:
            _check_spine_cube(key, name, run, cube, config["cubes"])
        elif (name in SIMULATED_RUNS or kind == "simulated") and run["data"].get("simulated") != name:
            raise ConfigError(f"{key}.data: the runs named {', '.join(SIMULATED_RUNS)}, and only they, image the "
                              f"workflow's simulated fields (data.simulated: <the run's name>); other runs may "
                              f"image a simulated cube (data.simulated: {SPINE_CUBE_PREFIX}NNNN)")
        if name == "mosaic" and not run["data"]["mosaic"]:
            raise ConfigError(f"{key}.data: the simulated mosaic needs mosaic: true")
        if cube:
            methods_key, available = "imaging.cubes.methods", config["imaging"]["cubes"]["methods"]
        elif kind == "simulated":
            methods_key, available = "imaging.continuum.methods", config["imaging"]["continuum"]["methods"]
        else:
            methods_key, available = "imaging.methods", list(methods)
        for method in run["compare"]["methods"]:
            if method not in available:
                raise ConfigError(f"{key}.compare.methods: {method!r} is not one of {available} ({methods_key})")
        if run["data"]["mosaic"] and run["data"]["field"] is not None:
            raise ConfigError(f"{key}.data: mosaic: true images every field with data; field must be null "
                              f"(it is {run['data']['field']!r})")
        if run["data"]["cube"]:
            if run["data"]["average_channels"]:
                raise ConfigError(f"{key}.data: a cube keeps every channel as a plane; average_channels must be "
                                  "false")
            if sky_signed_or_points(run["sky"]):
                raise ConfigError(f"{key}.sky: a cube's sky is one log-normal field over frequency x sky; "
                                  "absorption and point_sources are for images of one plane")
        channels = run["data"]["channels"]
        if channels is not None and channels[0] >= channels[1]:
            raise ConfigError(f"{key}.data.channels: [start, stop) needs start < stop, got {channels}")
        schedule = run["inference"]["schedule"]
        if run["noise"]["model"] != "none" and schedule[0]["learn_noise"]:
            raise ConfigError(f"{key}.inference.schedule: the first phase must keep the delivered weights "
                              "(learn_noise: false); learnt before the sky fits, the noise swallows the sky and "
                              "the optimisation diverges")
        if schedule[-1]["samples"] == 0:
            raise ConfigError(f"{key}.inference.schedule: the last phase needs samples > 0 for a posterior std")
        if run["response"]["mode"] == "psf":
            if run["noise"]["model"] == "uvfield":
                raise ConfigError(f"{key}: noise.model uvfield needs response.mode exact (it rescales every "
                                  "visibility, which the image-domain likelihood cannot)")
            if run["response"]["wgridding"] is True:
                raise ConfigError(f"{key}: response.mode psf assumes no w-term; wgridding true needs mode exact")


def _check_spine_cube(key: str, name: str, run: dict, cube: str, cubes: dict) -> None:
    """A run of a simulated cube: not one of the fields' names, a cube the config simulates, imaged as a cube,
    whole (its per-source table reads every channel and source) and on the cube's own grid (like tCLEAN's)."""
    if name in SIMULATED_RUNS:
        raise ConfigError(f"{key}.data: the run {name!r} images the simulated {name} (data.simulated: {name})")
    index = int(cube.removeprefix(SPINE_CUBE_PREFIX))
    if index >= cubes["count"]:
        raise ConfigError(f"{key}.data.simulated: {cube} is not simulated (cubes.count is {cubes['count']})")
    data, image = run["data"], run["image"]
    if not data["cube"]:
        raise ConfigError(f"{key}.data: a simulated cube ({cube}) is imaged as a cube; cube must be true")
    chosen = [k for k in ("channels", "spws", "field") if data[k] is not None] + (["mosaic"] if data["mosaic"] else [])
    if chosen:
        raise ConfigError(f"{key}.data: a simulated cube is imaged whole, one field and window; leave "
                          f"{', '.join(chosen)} unset")
    if (image["npix"], image["cell_arcsec"]) != (cubes["npix"], cubes["cell_arcsec"]):
        raise ConfigError(f"{key}.image: a simulated cube is imaged on its own grid, npix {cubes['npix']} and "
                          f"cell_arcsec {cubes['cell_arcsec']} (cubes), not {image['npix']} and "
                          f"{image['cell_arcsec']}")

"""Configuration: schema validation with defaults, and the checks a schema cannot express.

:func:`check` is the one entry point: the Snakefile (before any job), the
tests and the console commands all call it. Every error names the offending
key, e.g. ``continuum.cell_arcsec``. Other configs (``config/paper.yaml``,
``tests/data/tiny.yaml``) are overlays on ``config/config.yaml``, merged as
the Snakefile merges its ``--configfile`` (:func:`merge`, :func:`load`).
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import yaml

from .units import C_LIGHT, RAD_TO_ARCSEC

SCHEMA = Path(__file__).resolve().parent.parent / "config" / "schema.yaml"
BASE = SCHEMA.parent / "config.yaml"
# mappings whose keys are alternatives (rms_jy_per_beam or snr) or a whole set (the independent fields): an
# overlay replaces them whole
REPLACED_WHOLE = (("continuum", "noise"), ("cubes", "noise"), ("dataset", "noise"), ("independent", "fields"))


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the key."""


def merge(base: dict, overlay: dict, _path: tuple = ()) -> dict:
    """``overlay`` over ``base``: mappings merge key by key (except those at :data:`REPLACED_WHOLE`), anything
    else, lists included, is replaced."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        path = (*_path, key)
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and path not in REPLACED_WHOLE:
            out[key] = merge(out[key], value, path)
        else:
            out[key] = copy.deepcopy(value)
    return out


def base() -> dict:
    """``config/config.yaml``, the demo, on which every other config is an overlay."""
    return yaml.safe_load(BASE.read_text())


def load(*overlays: str | Path, overrides: dict | None = None) -> dict:
    """``config/config.yaml`` with each overlay file (then ``overrides``) merged over it, checked: the
    configuration of ``snakemake --configfile OVERLAY``."""
    config = base()
    for path in overlays:
        config = merge(config, yaml.safe_load(Path(path).read_text()) or {})
    config = merge(config, overrides or {})
    check(config)
    return config


def antenna_positions(name: str) -> np.ndarray:
    """(n, 3) antenna positions in metres from a casadata configuration file."""
    from .casa import antenna_config_path

    rows = [line.split()[:3] for line in antenna_config_path(name).read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    return np.array(rows, dtype=float)


def longest_baseline_m(name: str) -> float:
    pos = antenna_positions(name)
    return float(np.max(np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)))


def _check_range(key: str, values) -> None:
    if values[0] > values[1]:
        raise ConfigError(f"{key}: range [{values[0]}, {values[1]}] has its minimum above its maximum")


def _check_grid(key: str, npix: int, cell_arcsec: float, freq_hz: float, baseline_m: float) -> None:
    """The uv grid must hold the longest baseline and the image a few synthesized beams."""
    resolution = C_LIGHT / freq_hz / baseline_m * RAD_TO_ARCSEC  # lambda / B_max, below the true beam
    if cell_arcsec > resolution / 2:
        raise ConfigError(f"{key}.cell_arcsec={cell_arcsec}: pixels must be smaller than half of lambda/B_max = "
                          f"{resolution:.3g} arcsec, or the longest baselines fall off the uv grid")
    if npix * cell_arcsec < 5 * resolution:
        raise ConfigError(f"{key}.npix={npix}: the image ({npix * cell_arcsec:.3g} arcsec) must span at least "
                          f"5 x lambda/B_max = {5 * resolution:.3g} arcsec")


def _check_cube_spec(key: str, cubes: dict, baseline: float) -> None:
    """Cube grid, lines and source placement that can work (``cubes`` and ``dataset``)."""
    _check_grid(key, cubes["npix"], cubes["cell_arcsec"], cubes["centre_freq_ghz"] * 1e9, baseline)
    for name in ("n_sources", "fwhm_arcsec", "axis_ratio", "line_fwhm_chan", "line_flux_mjy", "continuum_to_line",
                 "spectral_index"):
        _check_range(f"{key}.{name}", cubes[name])
    if cubes["axis_ratio"][1] > 1:
        raise ConfigError(f"{key}.axis_ratio: minor/major axis ratios must not exceed 1")
    if cubes["nchan"] <= 2 * cubes["line_fwhm_chan"][1] + 1:
        raise ConfigError(f"{key}.nchan={cubes['nchan']} cannot hold a line of line_fwhm_chan up to "
                          f"{cubes['line_fwhm_chan'][1]} channels with a FWHM of band on each side")
    bandwidth_ghz = cubes["nchan"] * cubes["channel_width_mhz"] / 1e3
    if bandwidth_ghz >= cubes["centre_freq_ghz"]:
        raise ConfigError(f"{key}.nchan x {key}.channel_width_mhz = {bandwidth_ghz} GHz exceeds the centre frequency")
    usable = cubes["npix"] * cubes["cell_arcsec"] - 2 * cubes["edge_margin_arcsec"]
    if usable <= 0:
        raise ConfigError(f"{key}.edge_margin_arcsec leaves no room for sources")
    if cubes["n_sources"][1] > 1 and cubes["min_separation_arcsec"] > usable / np.sqrt(2):
        raise ConfigError(f"{key}.min_separation_arcsec={cubes['min_separation_arcsec']}: no position inside "
                          f"{key}.edge_margin_arcsec is that far from the central source")
    # disks of radius min_sep/2 around each source must fit in the usable square (loose packing bound)
    packing = cubes["n_sources"][1] * np.pi * (cubes["min_separation_arcsec"] / 2) ** 2
    if packing > 0.5 * (usable + cubes["min_separation_arcsec"]) ** 2:
        raise ConfigError(f"{key}.min_separation_arcsec={cubes['min_separation_arcsec']}: "
                          f"{cubes['n_sources'][1]} sources cannot be placed that far apart in the field")


def _check_observation(key: str, obs: dict) -> float:
    """A date and times that can work; returns the array's longest baseline (m)."""
    try:
        dt.datetime.strptime(obs["ref_date"], "%Y/%m/%d")
    except ValueError as exc:
        raise ConfigError(f"{key}.ref_date={obs['ref_date']!r} is not a valid date (YYYY/MM/DD)") from exc
    try:
        baseline = longest_baseline_m(obs["antenna_config"])
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if obs["total_time_s"] < obs["integration_s"]:
        raise ConfigError(f"{key}.total_time_s must be at least {key}.integration_s")
    return baseline


def independent_spec(dataset: dict, field: dict) -> dict:
    """The cube spec of an independent-test field: the training set's grid and population, the field's size
    and source count (its own: no sparse cubes of the training set's), sources placed uniformly (no brightest
    source at the centre)."""
    return {**dataset, "npix": field["npix"], "n_sources": field["n_sources"], "brightest_at_centre": False,
            "sparse_fraction": 0.0}


def _check_independent(independent: dict, dataset: dict) -> None:
    baseline = _check_observation("independent.observation", independent["observation"])
    for name, field in independent["fields"].items():
        key = f"independent.fields.{name}"
        if field["npix"] < dataset["npix"]:
            raise ConfigError(f"{key}.npix={field['npix']} is smaller than the training cubes' dataset.npix="
                              f"{dataset['npix']}; DeepFocus needs images at least that size")
        _check_cube_spec(key, independent_spec(dataset, field), baseline)


def check(config: dict) -> None:
    """Validate against the schema (filling defaults in place), then run every section's checks beyond it;
    raises :class:`ConfigError` naming the key."""
    import jsonschema
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    try:
        validate(config, str(SCHEMA), set_default=True)
    except WorkflowError as exc:
        error = exc.__context__   # snakemake wraps jsonschema's error, which names the key
        if not isinstance(error, jsonschema.ValidationError):
            raise
        key = ".".join(map(str, error.absolute_path)) or "(top level)"
        raise ConfigError(f"{key}: does not match config/schema.yaml: {error.message}") from None
    _check_spine(config)
    from .deepfocus import settings as deepfocus_settings
    from .resolve import settings as resolve_settings

    deepfocus_settings.check(config)
    resolve_settings.check(config)


def _check_component_field(name: str, field: dict, baseline: float, signed: bool) -> None:
    """A field of Gaussian components (``continuum``, ``decrement``): grid, unique names, shapes inside the image;
    only a ``signed`` field may have negative fluxes."""
    _check_grid(name, field["npix"], field["cell_arcsec"], field["freq_ghz"] * 1e9, baseline)
    half = field["npix"] * field["cell_arcsec"] / 2
    names = [c["name"] for c in field["components"]]
    if len(set(names)) != len(names):
        raise ConfigError(f"{name}.components: component names must be unique")
    for comp in field["components"]:
        key = f"{name}.components[{comp['name']}]"
        if comp["fwhm_minor_arcsec"] > comp["fwhm_major_arcsec"]:
            raise ConfigError(f"{key}: fwhm_minor_arcsec exceeds fwhm_major_arcsec")
        if max(abs(v) for v in comp["offset_arcsec"]) >= half:
            raise ConfigError(f"{key}.offset_arcsec={comp['offset_arcsec']} lies outside the "
                              f"{2 * half:.3g} arcsec image")
        if comp["flux_mjy"] < 0 and not signed:
            raise ConfigError(f"{key}.flux_mjy={comp['flux_mjy']}: the {name} field is positive (a decrement "
                              "belongs in the decrement field)")


def _check_spine(config: dict) -> None:
    """Observation, continuum field, cubes, dataset and imaging."""
    baseline = _check_observation("observation", config["observation"])

    _check_component_field("continuum", config["continuum"], baseline, signed=False)
    if "decrement" in config:
        _check_component_field("decrement", config["decrement"], baseline, signed=True)

    if config["cubes"]["count"] > 0:
        _check_cube_spec("cubes", config["cubes"], baseline)
    dataset = config["dataset"]
    _check_cube_spec("dataset", dataset, baseline)
    if dataset["backend"] == "casa" and dataset["noise_draw"] != "visibilities":
        raise ConfigError(f"dataset.noise_draw={dataset['noise_draw']!r} is for the ducc backend; the casa backend "
                          "adds its noise to the visibilities")
    if dataset["guard_pix"] > 0 and "snr" in dataset["noise"]:
        raise ConfigError(f"dataset.guard_pix={dataset['guard_pix']} needs dataset.noise.rms_jy_per_beam: with "
                          "noise: {snr} the noise level would follow the brightest source of the guard ring too")
    fractions = dataset["split"]
    if abs(sum(fractions.values()) - 1.0) > 1e-9:
        raise ConfigError(f"dataset.split: fractions {fractions} must add up to 1")
    for name, fraction in fractions.items():
        if round(fraction * dataset["count"]) < 1:
            raise ConfigError(f"dataset.split.{name}={fraction} leaves no cube of dataset.count={dataset['count']}")

    if "independent" in config:
        _check_independent(config["independent"], dataset)

    methods = config["imaging"]["methods"]
    for target in ("continuum", "cubes"):
        for name in config["imaging"][target]["methods"]:
            if name not in methods:
                raise ConfigError(f"imaging.{target}.methods: {name!r} is not defined in imaging.methods "
                                  f"(defined: {', '.join(methods) or 'none'})")
    for name in methods:
        if name == "dirty":
            raise ConfigError("imaging.methods: 'dirty' is reserved for the niter=0 image")

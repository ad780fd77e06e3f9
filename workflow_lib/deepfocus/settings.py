"""The ``deepfocus`` config section's cross-section check and the files DeepFocus writes.

Here, not beside the PyTorch code, so that the Snakefile reads the names without importing torch.
"""

from __future__ import annotations

from pathlib import Path

from ..config import ConfigError

RESNET_TARGETS = ("fwhm_major", "fwhm_minor", "pa", "flux")
MODELS = ("blobsfinder", "deepgru", *(f"resnet_{t}" for t in RESNET_TARGETS))
# what training one model writes into its directory (``resume`` only while it runs)
TRAINING_FILES = {"model": "model.pt", "history": "history.csv", "curve": "loss.png", "resume": "resume.pt"}
# what the pipeline writes per cube, and for a whole split (one catalogue and the timing)
CUBE_PRODUCTS = {"catalogue": "catalogue.ecsv", "model": "model.fits", "continuum": "continuum.fits"}
SPLIT_PRODUCTS = {"catalogue": "catalogue.ecsv", "timing": "timing.json"}
# the operating point (rule and score threshold chosen on validation), beside the models it belongs to
OPERATING_POINT = "operating_point.json"
# the ResNets' training set; the baselines: tCLEAN of one test cube, PyBDSF on all of them
FOCUS_SET = "focus_set.h5"
TCLEAN_FILES = {"image": "image.fits", "model": "model.fits", "timing": "timing.json"}
PYBDSF_FILES = {"dirty": "dirty.ecsv", "tclean": "tclean.ecsv"}
# the evaluation's tables (deepfocus_<name>.{csv,md}) and figures (deepfocus_<name>.{png,pdf})
TABLES = ("detection", "stage_losses", "vs_pybdsf", "characterisation", "vs_tclean")
FIGURES = ("completeness", "purity_completeness", "residuals", "examples")
# the independent test set (workflow_lib/dataset/independent.py): what each cube's simulation leaves, and the
# tables and figure of its evaluation beside the ducc test split (deepfocus_independent_<name>)
INDEPENDENT_FILES = {"dirty": "dirty.fits", "psf": "psf.fits", "truth": "truth.ecsv", "record": "record.json"}
INDEPENDENT_TABLES = ("detection", "fields", "characterisation", "stage_losses")
INDEPENDENT_FIGURES = ("completeness",)


def files_in(directory: str | Path, names: dict[str, str]) -> dict[str, str]:
    """Keyword -> path of each file of a name table above, in ``directory``."""
    return {key: str(Path(directory) / name) for key, name in names.items()}


def training_files(directory: str | Path) -> dict[str, str]:
    return files_in(directory, TRAINING_FILES)


def model_files(models_dir: str | Path) -> dict[str, str]:
    """The checkpoint of every model in the workflow's layout ``<models_dir>/<model>/model.pt``."""
    return {name: training_files(Path(models_dir) / name)["model"] for name in MODELS}


def operating_point_file(models_dir: str | Path) -> str:
    return str(Path(models_dir) / OPERATING_POINT)


def cube_products(directory: str | Path) -> dict[str, str]:
    return files_in(directory, CUBE_PRODUCTS)


def independent_cubes(independent: dict) -> list[str]:
    """``<field kind>_<k>`` of every independent cube, kinds in config order."""
    return [f"{kind}_{k:02d}" for kind, field in independent["fields"].items() for k in range(field["count"])]


def tables(with_tclean: bool) -> tuple[str, ...]:
    """The evaluation's tables; ``vs_tclean`` only when some test cubes were tCLEANed."""
    return TABLES if with_tclean else TABLES[:-1]


def check(config: dict) -> None:
    method = config["deepfocus"]["evaluation"]["tclean_method"]
    if method not in config["imaging"]["methods"]:
        raise ConfigError(f"deepfocus.evaluation.tclean_method={method!r} is not defined in imaging.methods "
                          f"({', '.join(config['imaging']['methods'])})")

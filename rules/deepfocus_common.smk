# Helpers of rules/deepfocus.smk: test cubes, model paths, parameters.
from pathlib import Path

from workflow_lib.dataset.manifest import split_indices

DF = f"{R}/deepfocus"
DF_MODELS = f"{DF}/models"
DF_CFG = config["deepfocus"]
DF_TARGETS = ["fwhm_major", "fwhm_minor", "pa", "flux"]
DF_TEST = split_indices(config["dataset"]["count"], config["dataset"]["split"], config["seed"])["test"]
DF_TCLEAN = DF_TEST[: DF_CFG["evaluation"]["tclean_cubes"]]
DF_TABLES = ["detection", "vs_pybdsf", "characterisation"] + (["vs_tclean"] if DF_TCLEAN else [])
DF_FIGURES = ["completeness", "sweep", "residuals", "examples"]
DF_PRODUCTS = ["catalogue.ecsv", "model.fits", "continuum.fits"]  # per test cube
if DF_CFG["evaluation"]["tclean_method"] not in config["imaging"]["methods"]:
    raise WorkflowError(
        f"invalid configuration: deepfocus.evaluation.tclean_method={DF_CFG['evaluation']['tclean_method']!r} "
        f"is not defined in imaging.methods ({', '.join(config['imaging']['methods'])})"
    )


wildcard_constraints:
    df_target="|".join(DF_TARGETS),


def df_params(*sections, **extra):
    """The named parts of the deepfocus config (and the seed): a job reruns only when they change."""
    return params_json(deepfocus={k: DF_CFG[k] for k in sections}, seed=config["seed"], **extra)


DF_INFERENCE = ("blobsfinder", "deepgru", "focusing", "focus_size", "batch_cubes")


def df_model(name):
    return f"{DF_MODELS}/{name}/model.pt"


def df_training_outputs(name):
    return {"model": df_model(name), "history": f"{DF_MODELS}/{name}/history.csv",
            "curve": f"{DF_MODELS}/{name}/loss.png"}


def df_tclean_args(dirs):
    return " ".join(f"{i}={d}" for i, d in zip(DF_TCLEAN, dirs))


def deepfocus_outputs():
    tables = [f"{R}/tables/deepfocus_{t}.{ext}" for t in DF_TABLES for ext in ("csv", "md")]
    return tables + [f"{R}/figures/deepfocus_{f}.{ext}" for f in DF_FIGURES for ext in ("png", "pdf")]


PAPER_OUTPUTS.extend(deepfocus_outputs())

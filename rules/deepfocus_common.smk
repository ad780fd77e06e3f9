# Helpers of rules/deepfocus.smk: test cubes, model and product paths (names from workflow_lib.deepfocus.settings).
from workflow_lib.dataset.manifest import split_indices
from workflow_lib.deepfocus import settings as df_settings

DF = f"{R}/deepfocus"
DF_MODELS = f"{DF}/models"
DF_CFG = config["deepfocus"]
DF_TEST = split_indices(config["dataset"]["count"], config["dataset"]["split"], config["seed"])["test"]
DF_TCLEAN = DF_TEST[: DF_CFG["evaluation"]["tclean_cubes"]]
DF_TABLES = df_settings.tables(bool(DF_TCLEAN))
DF_INFERENCE = ("blobsfinder", "deepgru", "focusing", "focus_size", "batch_cubes")
DF_FOCUS_SET = f"{DF}/{df_settings.FOCUS_SET}"
DF_OPERATING_POINT = df_settings.operating_point_file(DF_MODELS)
DF_TEST_PRODUCTS = df_settings.files_in(f"{DF}/test", df_settings.SPLIT_PRODUCTS)
DF_PYBDSF = df_settings.files_in(f"{DF}/pybdsf", df_settings.PYBDSF_FILES)


wildcard_constraints:
    df_target="|".join(df_settings.RESNET_TARGETS),


def df_section(*keys):
    """The named parts of the deepfocus config: a job reruns only when they change."""
    return {k: DF_CFG[k] for k in keys}


def df_training_outputs(name):
    """What training model ``name`` leaves (its resume state is not an output: it is gone when the job ends)."""
    files = df_settings.training_files(f"{DF_MODELS}/{name}")
    files.pop("resume")
    return files


def df_resume(name):
    return df_settings.training_files(f"{DF_MODELS}/{name}")["resume"]


def df_models(names=df_settings.MODELS):
    """Checkpoints by model name (the keywords the DeepFocus steps take)."""
    files = df_settings.model_files(DF_MODELS)
    return {name: files[name] for name in names}


def df_cube_products(index, kind="test"):
    return df_settings.cube_products(f"{DF}/{kind}/cube_{index:04d}")


def df_tclean_files(cube):
    """tCLEAN's image and model of a test cube and its timing; ``cube`` is "0003" or the "{index}" wildcard."""
    return df_settings.files_in(f"{DF}/tclean/cube_{cube}", df_settings.TCLEAN_FILES)


def deepfocus_outputs():
    tables = [f"{R}/tables/deepfocus_{t}.{ext}" for t in DF_TABLES for ext in ("csv", "md")]
    return tables + [f"{R}/figures/deepfocus_{f}.{ext}" for f in df_settings.FIGURES for ext in ("png", "pdf")]


PAPER_OUTPUTS.extend(deepfocus_outputs())

# Helpers of rules/independent.smk: the independent cubes, their files and the evaluation's outputs.
IND = f"{R}/independent"
IND_CFG = config["independent"]
IND_CUBES = df_settings.independent_cubes(IND_CFG)


wildcard_constraints:
    ind_cube=r"[a-z][a-z0-9]*_\d{2}",


def ind_files(cube):
    return df_settings.files_in(f"{IND}/{cube}", df_settings.INDEPENDENT_FILES)


def ind_field(wildcards):
    """The field kind's size and source count (not its cube count: adding cubes reruns none)."""
    field = IND_CFG["fields"][wildcards.ind_cube.rsplit("_", 1)[0]]
    return {"npix": field["npix"], "n_sources": field["n_sources"]}


def ind_products(cube):
    return df_settings.cube_products(f"{DF}/independent/{cube}")


IND_DF = df_settings.files_in(f"{DF}/independent", df_settings.SPLIT_PRODUCTS)
IND_PYBDSF = f"{DF}/independent/pybdsf.ecsv"
SMOOTH_CLIP = {kind: f"{DF}/smooth_clip/{kind}.ecsv" for kind in ("test", "independent")}
IND_TABLES = {t: f"{R}/tables/deepfocus_independent_{t}" for t in df_settings.INDEPENDENT_TABLES}
IND_FIGURES = {f: f"{R}/figures/deepfocus_independent_{f}" for f in df_settings.INDEPENDENT_FIGURES}


if IND_CUBES:
    PAPER_OUTPUTS.extend(f"{path}.{ext}" for path in IND_TABLES.values() for ext in ("csv", "md"))
    PAPER_OUTPUTS.extend(f"{path}.{ext}" for path in IND_FIGURES.values() for ext in ("png", "pdf"))

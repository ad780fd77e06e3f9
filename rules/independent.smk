# DeepFocus's independent test set (README "Independent test set"): cubes that CASA simulates end to end under
# another observation setup, never trained or tuned on; DeepFocus (at the operating point chosen on validation),
# PyBDSF and smooth-and-clip (the classical 3-D baseline) on them, and their tables beside the ducc test split's.
include: "independent_common.smk"


rule independent_cube:
    output:
        **ind_files("{ind_cube}"),
    params:
        step="dataset.independent:build_cube",
        dataset=config["dataset"],
        observation=IND_CFG["observation"],
        pwv_mm=IND_CFG["pwv_mm"],
        field=ind_field,
        seed=config["seed"],
        cube=lambda w: w.ind_cube,
    log:
        main=f"{LOGS}/independent_cube/{{ind_cube}}.log",
        casa=f"{LOGS}/independent_cube/{{ind_cube}}.casa.log",
    benchmark:
        f"{BENCH}/independent_cube/{{ind_cube}}.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=20,
    script:
        "step.py"


rule deepfocus_independent:
    input:
        cubes=[ind_files(c)["dirty"] for c in IND_CUBES],
        psfs=[ind_files(c)["psf"] for c in IND_CUBES],
        point=DF_OPERATING_POINT,
        **df_models(),
    output:
        **IND_DF,
        products=[path for c in IND_CUBES for path in ind_products(c).values()],
    params:
        step="deepfocus.steps:infer_fits",
        names=IND_CUBES,
        deepfocus=df_section(*DF_INFERENCE),
    log:
        f"{LOGS}/deepfocus_independent.log",
    benchmark:
        f"{BENCH}/deepfocus_independent.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(6000),
        runtime=60,
    script:
        "step.py"


rule deepfocus_independent_pybdsf:
    input:
        cubes=[ind_files(c)["dirty"] for c in IND_CUBES],
    output:
        out=IND_PYBDSF,
    params:
        step="deepfocus.evaluation.pybdsf:fits_catalogue",
        names=IND_CUBES,
        thresh_isl=DF_CFG["evaluation"]["pybdsf"]["thresh_isl"],
        thresh_pix=DF_CFG["evaluation"]["pybdsf"]["thresh_pix"],
    log:
        f"{LOGS}/deepfocus_independent_pybdsf.log",
    benchmark:
        f"{BENCH}/deepfocus_independent_pybdsf.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(3000),
        runtime=30,
    script:
        "step.py"


rule smooth_clip_test:
    input:
        manifest=MANIFEST,
    output:
        out=SMOOTH_CLIP["test"],
    params:
        step="deepfocus.evaluation.smooth_clip:test_catalogue",
        smooth_clip=DF_CFG["evaluation"]["smooth_clip"],
    log:
        f"{LOGS}/smooth_clip_test.log",
    benchmark:
        f"{BENCH}/smooth_clip_test.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(3000),
        runtime=30,
    script:
        "step.py"


rule smooth_clip_independent:
    input:
        cubes=[ind_files(c)["dirty"] for c in IND_CUBES],
    output:
        out=SMOOTH_CLIP["independent"],
    params:
        step="deepfocus.evaluation.smooth_clip:fits_catalogue",
        names=IND_CUBES,
        smooth_clip=DF_CFG["evaluation"]["smooth_clip"],
    log:
        f"{LOGS}/smooth_clip_independent.log",
    benchmark:
        f"{BENCH}/smooth_clip_independent.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(3000),
        runtime=30,
    script:
        "step.py"


rule deepfocus_independent_evaluate:
    input:
        manifest=MANIFEST,
        point=DF_OPERATING_POINT,
        **df_models(["blobsfinder", "deepgru"]),
        test_catalogue=DF_TEST_PRODUCTS["catalogue"],
        test_pybdsf=DF_PYBDSF["dirty"],
        test_smooth_clip=SMOOTH_CLIP["test"],
        cubes=[ind_files(c)["dirty"] for c in IND_CUBES],
        psfs=[ind_files(c)["psf"] for c in IND_CUBES],
        truths=[ind_files(c)["truth"] for c in IND_CUBES],
        catalogue=IND_DF["catalogue"],
        pybdsf=IND_PYBDSF,
        smooth_clip=SMOOTH_CLIP["independent"],
    output:
        tables=[
            report(f"{path}.csv", caption=f"../report/deepfocus_independent_{t}.rst", category="DeepFocus independent")
            for t, path in IND_TABLES.items()
        ],
        markdown=[f"{path}.md" for path in IND_TABLES.values()],
        figures_png=[
            report(f"{path}.png", caption=f"../report/deepfocus_independent_{f}.rst", category="DeepFocus independent")
            for f, path in IND_FIGURES.items()
        ],
        figures_pdf=[f"{path}.pdf" for path in IND_FIGURES.values()],
    params:
        step="deepfocus.evaluation.independent:evaluate",
        names=IND_CUBES,
        deepfocus=df_section(*DF_INFERENCE, "evaluation"),
    log:
        f"{LOGS}/deepfocus_independent_evaluate.log",
    benchmark:
        f"{BENCH}/deepfocus_independent_evaluate.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(6000),
        runtime=30,
    script:
        "step.py"

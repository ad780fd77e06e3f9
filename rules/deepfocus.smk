# DeepFocus: one training rule per model (train split, early stopping on validation), the operating point
# (false-positive rule and score threshold) chosen on the validation split, inference and evaluation on the
# test split, tCLEAN and PyBDSF baselines on the same test cubes. They use CUDA when
# present and the CPU otherwise; profiles tag the GPU rules (set-resources: gpu) and set their threads.
include: "deepfocus_common.smk"


rule train_blobsfinder:
    input:
        manifest=MANIFEST,
    output:
        **df_training_outputs("blobsfinder"),
    params:
        step="deepfocus.steps:train_blobsfinder",
        resume=df_resume("blobsfinder"),
        deepfocus=df_section("blobsfinder"),
        seed=config["seed"],
    log:
        f"{LOGS}/train_blobsfinder.log",
    benchmark:
        f"{BENCH}/train_blobsfinder.tsv"
    conda:
        "../envs/torch.yaml"
    priority: CRITICAL_PATH
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=600,
    script:
        "step.py"


rule train_deepgru:
    input:
        manifest=MANIFEST,
        blobsfinder_model=df_models()["blobsfinder"],
    output:
        **df_training_outputs("deepgru"),
    params:
        step="deepfocus.steps:train_deepgru",
        resume=df_resume("deepgru"),
        deepfocus=df_section("blobsfinder", "deepgru"),
        seed=config["seed"],
    log:
        f"{LOGS}/train_deepgru.log",
    benchmark:
        f"{BENCH}/train_deepgru.tsv"
    conda:
        "../envs/torch.yaml"
    priority: CRITICAL_PATH
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=600,
    script:
        "step.py"


rule deepfocus_focus_set:
    input:
        manifest=MANIFEST,
        **df_models(["blobsfinder", "deepgru"]),
    output:
        out=DF_FOCUS_SET,
    params:
        step="deepfocus.steps:focus_set",
        deepfocus=df_section(*DF_INFERENCE),
    log:
        f"{LOGS}/deepfocus_focus_set.log",
    benchmark:
        f"{BENCH}/deepfocus_focus_set.tsv"
    conda:
        "../envs/torch.yaml"
    priority: CRITICAL_PATH
    threads: 1
    resources:
        mem_mb=per_attempt(6000),
        runtime=240,
    script:
        "step.py"


rule train_resnet:
    input:
        focus_set=DF_FOCUS_SET,
    output:
        **df_training_outputs("resnet_{df_target}"),
    params:
        step="deepfocus.steps:train_resnet",
        resume=df_resume("resnet_{df_target}"),
        target=lambda w: w.df_target,
        deepfocus=df_section("resnets"),
        seed=config["seed"],
    log:
        f"{LOGS}/train_resnet/{{df_target}}.log",
    benchmark:
        f"{BENCH}/train_resnet/{{df_target}}.tsv"
    conda:
        "../envs/torch.yaml"
    priority: CRITICAL_PATH
    threads: 1
    resources:
        mem_mb=per_attempt(6000),
        runtime=600,
    script:
        "step.py"


rule deepfocus_operating_point:
    input:
        manifest=MANIFEST,
        **df_models(),
    output:
        out=DF_OPERATING_POINT,
    params:
        step="deepfocus.operating_point:choose",
        deepfocus=df_section(*DF_INFERENCE, "operating_point"),
        iou_3d=DF_CFG["evaluation"]["iou_3d"],
    log:
        f"{LOGS}/deepfocus_operating_point.log",
    benchmark:
        f"{BENCH}/deepfocus_operating_point.tsv"
    conda:
        "../envs/torch.yaml"
    priority: CRITICAL_PATH
    threads: 1
    resources:
        mem_mb=per_attempt(6000),
        runtime=120,
    script:
        "step.py"


rule deepfocus_inference:
    input:
        manifest=MANIFEST,
        point=DF_OPERATING_POINT,
        **df_models(),
    output:
        **DF_TEST_PRODUCTS,
        products=[path for i in DF_TEST for path in df_cube_products(i).values()],
    params:
        step="deepfocus.steps:infer",
        deepfocus=df_section(*DF_INFERENCE),
    log:
        f"{LOGS}/deepfocus_inference.log",
    benchmark:
        f"{BENCH}/deepfocus_inference.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(6000),
        runtime=120,
    script:
        "step.py"


rule deepfocus_tclean:
    input:
        manifest=MANIFEST,
        coverage=f"{R}/dataset/coverage.h5",
        template_ms=f"{R}/dataset/template.ms",
    output:
        **df_tclean_files("{index}"),
    params:
        step="deepfocus.evaluation.tclean:tclean_cube",
        dataset=config["dataset"],
        observation=config["observation"],
        seed=config["seed"],
        method=config["imaging"]["methods"][DF_CFG["evaluation"]["tclean_method"]],
        niter=DF_CFG["evaluation"]["tclean_niter"],
        index=lambda w: int(w.index),
    log:
        main=f"{LOGS}/deepfocus_tclean/{{index}}.log",
        casa=f"{LOGS}/deepfocus_tclean/{{index}}.casa.log",
    benchmark:
        f"{BENCH}/deepfocus_tclean/{{index}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(6000),
        runtime=60,
    script:
        "step.py"


rule deepfocus_pybdsf:
    input:
        manifest=MANIFEST,
        tclean_images=[df_tclean_files(f"{i:04d}")["image"] for i in DF_TCLEAN],
    output:
        **DF_PYBDSF,
    params:
        step="deepfocus.evaluation.pybdsf:test_catalogues",
        tclean_cubes=DF_TCLEAN,
        **DF_CFG["evaluation"]["pybdsf"],
    log:
        f"{LOGS}/deepfocus_pybdsf.log",
    benchmark:
        f"{BENCH}/deepfocus_pybdsf.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(3000),
        runtime=60,
    script:
        "step.py"


rule deepfocus_evaluate:
    input:
        manifest=MANIFEST,
        point=DF_OPERATING_POINT,
        **df_models(["blobsfinder", "deepgru"]),
        **DF_TEST_PRODUCTS,
        pybdsf_dirty=DF_PYBDSF["dirty"],
        pybdsf_tclean=DF_PYBDSF["tclean"],
        tclean_images=[df_tclean_files(f"{i:04d}")["image"] for i in DF_TCLEAN],
        tclean_models=[df_tclean_files(f"{i:04d}")["model"] for i in DF_TCLEAN],
        tclean_timings=[df_tclean_files(f"{i:04d}")["timing"] for i in DF_TCLEAN],
        deepfocus_models=[df_cube_products(i)["model"] for i in DF_TCLEAN],
    output:
        tables=[
            report(f"{R}/tables/deepfocus_{t}.csv", caption=f"../report/deepfocus_{t}.rst", category="DeepFocus")
            for t in DF_TABLES
        ],
        markdown=[f"{R}/tables/deepfocus_{t}.md" for t in DF_TABLES],
        figures=[
            report(f"{R}/figures/deepfocus_{f}.png", caption=f"../report/deepfocus_{f}.rst", category="DeepFocus")
            for f in df_settings.FIGURES
        ],
        pdfs=[f"{R}/figures/deepfocus_{f}.pdf" for f in df_settings.FIGURES],
    params:
        step="deepfocus.evaluation.report:evaluate",
        tclean_cubes=DF_TCLEAN,
        deepfocus=df_section(*DF_INFERENCE, "evaluation"),
    log:
        f"{LOGS}/deepfocus_evaluate.log",
    benchmark:
        f"{BENCH}/deepfocus_evaluate.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(6000),
        runtime=60,
    script:
        "step.py"

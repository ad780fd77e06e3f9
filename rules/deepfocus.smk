# DeepFocus: one training rule per model (train split, early stopping on validation), inference and
# evaluation on the test split, tCLEAN and PyBDSF baselines on the same test cubes. The training and
# inference rules carry `gpu` (deepfocus.gpu) so that profiles/slurm sends them to its GPU partition;
# they use CUDA when present and the CPU otherwise, so a workstation run needs no GPU.
include: "deepfocus_common.smk"


rule train_blobsfinder:
    input:
        manifest=f"{R}/dataset/manifest.json",
    output:
        **df_training_outputs("blobsfinder"),
    params:
        p=df_params("blobsfinder"),
        out=lambda w, output: Path(output.model).parent,
    log:
        f"{LOGS}/train_blobsfinder.log",
    benchmark:
        f"{BENCH}/train_blobsfinder.tsv"
    conda:
        "../envs/torch.yaml"
    threads: DF_CFG["threads"]
    resources:
        mem_mb=4000,
        runtime=600,
        gpu=DF_CFG["gpu"],
    shell:
        "python -m workflow_lib deepfocus-train-blobsfinder --params {params.p:q} --manifest {input.manifest}"
        " --out-dir {params.out} --threads {threads} > {log} 2>&1"


rule train_deepgru:
    input:
        manifest=f"{R}/dataset/manifest.json",
        blobsfinder=df_model("blobsfinder"),
    output:
        **df_training_outputs("deepgru"),
    params:
        p=df_params("blobsfinder", "deepgru"),
        out=lambda w, output: Path(output.model).parent,
    log:
        f"{LOGS}/train_deepgru.log",
    benchmark:
        f"{BENCH}/train_deepgru.tsv"
    conda:
        "../envs/torch.yaml"
    threads: DF_CFG["threads"]
    resources:
        mem_mb=4000,
        runtime=600,
        gpu=DF_CFG["gpu"],
    shell:
        "python -m workflow_lib deepfocus-train-deepgru --params {params.p:q} --manifest {input.manifest}"
        " --blobsfinder {input.blobsfinder} --out-dir {params.out} --threads {threads} > {log} 2>&1"


rule deepfocus_focus_set:
    input:
        manifest=f"{R}/dataset/manifest.json",
        blobsfinder=df_model("blobsfinder"),
        deepgru=df_model("deepgru"),
    output:
        f"{DF}/focus_set.h5",
    params:
        p=df_params(*DF_INFERENCE),
    log:
        f"{LOGS}/deepfocus_focus_set.log",
    benchmark:
        f"{BENCH}/deepfocus_focus_set.tsv"
    conda:
        "../envs/torch.yaml"
    threads: DF_CFG["threads"]
    resources:
        mem_mb=6000,
        runtime=240,
    shell:
        "python -m workflow_lib deepfocus-focus-set --params {params.p:q} --manifest {input.manifest}"
        " --blobsfinder {input.blobsfinder} --deepgru {input.deepgru} --out {output} --threads {threads} > {log} 2>&1"


rule train_resnet:
    input:
        f"{DF}/focus_set.h5",
    output:
        **df_training_outputs("resnet_{df_target}"),
    params:
        p=df_params("resnets"),
        out=lambda w, output: Path(output.model).parent,
    log:
        f"{LOGS}/train_resnet/{{df_target}}.log",
    benchmark:
        f"{BENCH}/train_resnet/{{df_target}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: DF_CFG["threads"]
    resources:
        mem_mb=6000,
        runtime=600,
        gpu=DF_CFG["gpu"],
    shell:
        "python -m workflow_lib deepfocus-train-resnet --params {params.p:q} --focus-set {input}"
        " --target {wildcards.df_target} --out-dir {params.out} --threads {threads} > {log} 2>&1"


rule deepfocus_inference:
    input:
        manifest=f"{R}/dataset/manifest.json",
        models=[df_model(n) for n in ["blobsfinder", "deepgru", *(f"resnet_{t}" for t in DF_TARGETS)]],
    output:
        catalogue=f"{DF}/test/catalogue.ecsv",
        timing=f"{DF}/test/timing.json",
        products=[f"{DF}/test/cube_{i:04d}/{p}" for i in DF_TEST for p in DF_PRODUCTS],
    params:
        p=df_params(*DF_INFERENCE),
        models=lambda w, input: Path(input.models[0]).parent.parent,
        out=lambda w, output: Path(output.catalogue).parent,
    log:
        f"{LOGS}/deepfocus_inference.log",
    benchmark:
        f"{BENCH}/deepfocus_inference.tsv"
    conda:
        "../envs/torch.yaml"
    threads: DF_CFG["threads"]
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=DF_CFG["gpu"],
    shell:
        "python -m workflow_lib deepfocus-infer --params {params.p:q} --manifest {input.manifest}"
        " --models-dir {params.models} --out-dir {params.out} --threads {threads} > {log} 2>&1"


rule deepfocus_tclean:
    input:
        manifest=f"{R}/dataset/manifest.json",
        coverage=f"{R}/dataset/coverage.h5",
        template=f"{R}/dataset/template.ms",
    output:
        image=f"{DF}/tclean/cube_{{index}}/image.fits",
        model=f"{DF}/tclean/cube_{{index}}/model.fits",
        timing=f"{DF}/tclean/cube_{{index}}/timing.json",
    params:
        p=lambda w: params_json(
            dataset=config["dataset"],
            seed=config["seed"],
            method=config["imaging"]["methods"][DF_CFG["evaluation"]["tclean_method"]],
            niter=DF_CFG["evaluation"]["tclean_niter"],
        ),
        index=lambda w: int(w.index),
        out=lambda w, output: Path(output.image).parent,
    log:
        main=f"{LOGS}/deepfocus_tclean/{{index}}.log",
        casa=f"{LOGS}/deepfocus_tclean/{{index}}.casa.log",
    benchmark:
        f"{BENCH}/deepfocus_tclean/{{index}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=60,
    shell:
        "python -m workflow_lib deepfocus-tclean --params {params.p:q} --manifest {input.manifest}"
        " --coverage {input.coverage} --template-ms {input.template} --index {params.index}"
        " --out-dir {params.out} --casa-log {log.casa} > {log.main} 2>&1"


rule deepfocus_pybdsf:
    input:
        manifest=f"{R}/dataset/manifest.json",
        tclean=[f"{DF}/tclean/cube_{i:04d}/image.fits" for i in DF_TCLEAN],
    output:
        dirty=f"{DF}/pybdsf/dirty.ecsv",
        tclean=f"{DF}/pybdsf/tclean.ecsv",
    params:
        p=params_json(**DF_CFG["evaluation"]["pybdsf"]),
        tclean=lambda w, input: df_tclean_args(Path(p).parent for p in input.tclean),
    log:
        f"{LOGS}/deepfocus_pybdsf.log",
    benchmark:
        f"{BENCH}/deepfocus_pybdsf.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    shell:
        "python -m workflow_lib deepfocus-pybdsf --params {params.p:q} --manifest {input.manifest}"
        " --tclean {params.tclean} --dirty {output.dirty} --tclean-out {output.tclean} > {log} 2>&1"


rule deepfocus_evaluate:
    input:
        manifest=f"{R}/dataset/manifest.json",
        models=[df_model("blobsfinder"), df_model("deepgru")],
        catalogue=f"{DF}/test/catalogue.ecsv",
        timing=f"{DF}/test/timing.json",
        pybdsf_dirty=f"{DF}/pybdsf/dirty.ecsv",
        pybdsf_tclean=f"{DF}/pybdsf/tclean.ecsv",
        tclean=[f"{DF}/tclean/cube_{i:04d}/{p}.fits" for i in DF_TCLEAN for p in ("image", "model")],
    output:
        tables=[
            report(f"{R}/tables/deepfocus_{t}.csv", caption=f"../report/deepfocus_{t}.rst", category="DeepFocus")
            for t in DF_TABLES
        ],
        markdown=[f"{R}/tables/deepfocus_{t}.md" for t in DF_TABLES],
        figures=[
            report(f"{R}/figures/deepfocus_{f}.png", caption=f"../report/deepfocus_{f}.rst", category="DeepFocus")
            for f in DF_FIGURES
        ],
        pdfs=[f"{R}/figures/deepfocus_{f}.pdf" for f in DF_FIGURES],
    params:
        p=df_params(*DF_INFERENCE, "evaluation"),
        tclean=df_tclean_args(f"{DF}/tclean/cube_{i:04d}" for i in DF_TCLEAN),
        inference=lambda w, input: Path(input.catalogue).parent,
        models=lambda w, input: Path(input.models[0]).parent.parent,
        tables=lambda w, output: Path(output.tables[0]).parent,
        figures=lambda w, output: Path(output.figures[0]).parent,
    log:
        f"{LOGS}/deepfocus_evaluate.log",
    benchmark:
        f"{BENCH}/deepfocus_evaluate.tsv"
    conda:
        "../envs/torch.yaml"
    threads: DF_CFG["threads"]
    resources:
        mem_mb=6000,
        runtime=60,
    shell:
        "python -m workflow_lib deepfocus-evaluate --params {params.p:q} --manifest {input.manifest}"
        " --models-dir {params.models} --inference-dir {params.inference} --tclean {params.tclean}"
        " --pybdsf-dirty {input.pybdsf_dirty} --pybdsf-tclean {input.pybdsf_tclean}"
        " --tables {params.tables} --figures {params.figures} --threads {threads} > {log} 2>&1"

# The DeepFocus training set: uv coverage once, HDF5 shards in parallel jobs, split, manifest.


rule dataset_coverage:
    output:
        f"{R}/dataset/coverage.h5",
    params:
        p=params_json(dataset=config["dataset"], observation=config["observation"]),
    log:
        main=f"{LOGS}/dataset_coverage.log",
        casa=f"{LOGS}/dataset_coverage.casa.log",
    benchmark:
        f"{BENCH}/dataset_coverage.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    shell:
        "python -m workflow_lib coverage --params {params.p:q} --out {output} --casa-log {log.casa} > {log.main} 2>&1"


rule dataset_template_ms:
    output:
        temp(directory(f"{R}/dataset/template.ms")),
    params:
        p=params_json(dataset=config["dataset"], observation=config["observation"]),
    log:
        main=f"{LOGS}/dataset_template_ms.log",
        casa=f"{LOGS}/dataset_template_ms.casa.log",
    benchmark:
        f"{BENCH}/dataset_template_ms.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "python -m workflow_lib template-ms --params {params.p:q} --out {output} --casa-log {log.casa} > {log.main} 2>&1"


rule dataset_shard:
    input:
        coverage=f"{R}/dataset/coverage.h5",
    output:
        shard=f"{R}/dataset/shard_{{shard}}.h5",
        checksum=f"{R}/dataset/shard_{{shard}}.h5.sha256",
    params:
        p=params_json(dataset=config["dataset"], observation=config["observation"], seed=config["seed"]),
        shard=lambda w: int(w.shard),
    log:
        main=f"{LOGS}/dataset_shard/{{shard}}.log",
        casa=f"{LOGS}/dataset_shard/{{shard}}.casa.log",
    benchmark:
        f"{BENCH}/dataset_shard/{{shard}}.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=shard_mem_mb,
        runtime=120,
    shell:
        "python -m workflow_lib dataset-shard --params {params.p:q} --shard {params.shard}"
        " --coverage {input.coverage} --out {output.shard} --casa-log {log.casa} > {log.main} 2>&1"


rule dataset_split:
    output:
        f"{R}/dataset/split.json",
    params:
        p=params_json(count=config["dataset"]["count"], split=config["dataset"]["split"], seed=config["seed"]),
    log:
        f"{LOGS}/dataset_split.log",
    benchmark:
        f"{BENCH}/dataset_split.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m workflow_lib dataset-split --params {params.p:q} --out {output} > {log} 2>&1"


rule dataset_manifest:
    input:
        shards=DATASET_SHARDS,
        checksums=[f"{s}.sha256" for s in DATASET_SHARDS],
        split=f"{R}/dataset/split.json",
    output:
        f"{R}/dataset/manifest.json",
    params:
        p=params_json(dataset=config["dataset"], observation=config["observation"], seed=config["seed"]),
    log:
        f"{LOGS}/dataset_manifest.log",
    benchmark:
        f"{BENCH}/dataset_manifest.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    shell:
        "python -m workflow_lib dataset-manifest --params {params.p:q} --shards {input.shards}"
        " --split {input.split} --out {output} > {log} 2>&1"

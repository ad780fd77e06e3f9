# The DeepFocus training set: uv coverage once, HDF5 shards in parallel jobs, split, manifest.


rule dataset_coverage:
    output:
        out=f"{R}/dataset/coverage.h5",
    params:
        step="simulate.coverage:dataset_coverage",
        dataset=config["dataset"],
        observation=config["observation"],
    log:
        main=f"{LOGS}/dataset_coverage.log",
        casa=f"{LOGS}/dataset_coverage.casa.log",
    benchmark:
        f"{BENCH}/dataset_coverage.tsv"
    conda:
        "../envs/casa.yaml"
    priority: CRITICAL_PATH
    threads: 1
    resources:
        mem_mb=per_attempt(8000),
        runtime=60,
    script:
        "step.py"


rule dataset_template_ms:
    output:
        out=temp(directory(f"{R}/dataset/template.ms")),
    params:
        step="simulate.coverage:dataset_template_ms",
        dataset=config["dataset"],
        observation=config["observation"],
    log:
        main=f"{LOGS}/dataset_template_ms.log",
        casa=f"{LOGS}/dataset_template_ms.casa.log",
    benchmark:
        f"{BENCH}/dataset_template_ms.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=60,
    script:
        "step.py"


rule dataset_shard:
    input:
        coverage=f"{R}/dataset/coverage.h5",
    output:
        shard=f"{R}/dataset/shard_{{shard}}.h5",
        checksum=f"{R}/dataset/shard_{{shard}}.h5.sha256",
    params:
        step="dataset.shards:build_shard",
        dataset=config["dataset"],
        observation=config["observation"],
        seed=config["seed"],
        index=lambda w: int(w.shard),
    log:
        main=f"{LOGS}/dataset_shard/{{shard}}.log",
        casa=f"{LOGS}/dataset_shard/{{shard}}.casa.log",
    benchmark:
        f"{BENCH}/dataset_shard/{{shard}}.tsv"
    conda:
        "../envs/casa.yaml"
    priority: CRITICAL_PATH
    threads: 1
    resources:
        mem_mb=shard_mem_mb,
        runtime=120,
    script:
        "step.py"


rule dataset_split:
    output:
        out=f"{R}/dataset/split.json",
    params:
        step="dataset.manifest:write_split",
        n_cubes=config["dataset"]["count"],
        split=config["dataset"]["split"],
        seed=config["seed"],
    log:
        f"{LOGS}/dataset_split.log",
    benchmark:
        f"{BENCH}/dataset_split.tsv"
    conda:
        "../envs/casa.yaml"
    priority: CRITICAL_PATH
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=5,
    script:
        "step.py"


rule dataset_manifest:
    input:
        shards=DATASET_SHARDS,
        checksums=[f"{s}.sha256" for s in DATASET_SHARDS],
        split=f"{R}/dataset/split.json",
    output:
        out=MANIFEST,
    params:
        step="dataset.manifest:write_manifest",
        dataset=config["dataset"],
        observation=config["observation"],
        seed=config["seed"],
    log:
        f"{LOGS}/dataset_manifest.log",
    benchmark:
        f"{BENCH}/dataset_manifest.tsv"
    conda:
        "../envs/casa.yaml"
    priority: CRITICAL_PATH
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=30,
    script:
        "step.py"

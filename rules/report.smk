# Figures, the speed table and the `paper` target that regenerates every table and figure.


rule continuum_figure:
    input:
        skymodel=f"{R}/continuum/skymodel.fits",
        dirty=f"{R}/continuum/images/dirty.image.fits",
        images=expand(
            f"{R}/continuum/images/{{method}}.image.fits",
            method=config["imaging"]["continuum"]["methods"],
        ),
    output:
        png=report(
            f"{R}/figures/continuum_tclean.png",
            caption="../report/continuum_figure.rst",
            category="Continuum field",
        ),
        pdf=f"{R}/figures/continuum_tclean.pdf",
    params:
        images=lambda w, input: " ".join(
            [f"dirty={input.dirty}"]
            + [f"{m}={p}" for m, p in zip(config["imaging"]["continuum"]["methods"], input.images)]
        ),
    log:
        f"{LOGS}/continuum_figure.log",
    benchmark:
        f"{BENCH}/continuum_figure.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python -m workflow_lib continuum-figure --skymodel {input.skymodel} --image {params.images}"
        " --png {output.png} --pdf {output.pdf} > {log} 2>&1"


rule effective_config:
    output:
        report(f"{R}/config.yaml", caption="../report/config.rst", category="Configuration"),
    params:
        p=params_json(**config),
    log:
        f"{LOGS}/effective_config.log",
    benchmark:
        f"{BENCH}/effective_config.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "python -m workflow_lib effective-config --params {params.p:q} --out {output} > {log} 2>&1"


rule benchmark_table:
    input:
        all_outputs(benchmark_table=False),
        timing=f"{DF}/test/timing.json",
    output:
        csv=report(f"{R}/tables/benchmarks.csv", caption="../report/benchmarks.rst", category="Speed"),
        md=f"{R}/tables/benchmarks.md",
        speed_csv=report(f"{R}/tables/speed.csv", caption="../report/speed.rst", category="Speed"),
        speed_md=f"{R}/tables/speed.md",
    params:
        benchmarks=BENCH,
        p=params_json(**config),
    log:
        f"{LOGS}/benchmark_table.log",
    benchmark:
        f"{BENCH}/benchmark_table.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m workflow_lib benchmark-table --params {params.p:q} --benchmarks {params.benchmarks}"
        " --deepfocus-timing {input.timing} --csv {output.csv} --md {output.md}"
        " --speed-csv {output.speed_csv} --speed-md {output.speed_md} > {log} 2>&1"


rule paper:
    input:
        PAPER_OUTPUTS,
        f"{R}/tables/benchmarks.csv",

# Figures, the speed table and the `paper` target that regenerates every table and figure.


include: "report_common.smk"


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
        step="figures:write_continuum_figure",
        methods=config["imaging"]["continuum"]["methods"],
    log:
        f"{LOGS}/continuum_figure.log",
    benchmark:
        f"{BENCH}/continuum_figure.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=10,
    script:
        "step.py"


rule effective_config:
    output:
        out=report(f"{R}/config.yaml", caption="../report/config.rst", category="Configuration"),
    params:
        step="provenance:write_effective_config",
        config=config,
    log:
        f"{LOGS}/effective_config.log",
    benchmark:
        f"{BENCH}/effective_config.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(500),
        runtime=5,
    script:
        "step.py"


rule benchmark_table:
    input:
        all_outputs(benchmark_table=False),
        timing=DF_TEST_PRODUCTS["timing"],
    output:
        csv=report(f"{R}/tables/benchmarks.csv", caption="../report/benchmarks.rst", category="Speed"),
        md=f"{R}/tables/benchmarks.md",
        speed_csv=report(f"{R}/tables/speed.csv", caption="../report/speed.rst", category="Speed"),
        speed_md=f"{R}/tables/speed.md",
    params:
        step="speed:write_benchmark_tables",
        benchmark_dir=BENCH,
        benchmarks=speed_benchmarks(),
        config=config,
    log:
        f"{LOGS}/benchmark_table.log",
    benchmark:
        f"{BENCH}/benchmark_table.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=5,
    script:
        "step.py"


rule paper:
    input:
        PAPER_OUTPUTS,
        f"{R}/tables/benchmarks.csv",

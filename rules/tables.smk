# Comparison tables (CSV + Markdown).


rule continuum_peak_table:
    input:
        components=f"{R}/continuum/components.ecsv",
        skymodel=f"{R}/continuum/skymodel.fits",
        images=expand(
            f"{R}/continuum/images/{{method}}.image.pbcor.fits",
            method=config["imaging"]["continuum"]["methods"],
        ),
    output:
        csv=report(
            f"{R}/tables/continuum_peak_flux.csv",
            caption="../report/continuum_peak_flux.rst",
            category="Continuum field",
        ),
        md=f"{R}/tables/continuum_peak_flux.md",
    params:
        step="tables:write_continuum_peak_table",
        methods=config["imaging"]["continuum"]["methods"],
    log:
        f"{LOGS}/continuum_peak_table.log",
    benchmark:
        f"{BENCH}/continuum_peak_table.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=10,
    script:
        "step.py"

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
        images=lambda w, input: " ".join(
            f"{m}={path}" for m, path in zip(config["imaging"]["continuum"]["methods"], input.images)
        ),
        p=params_json(methods=config["imaging"]["continuum"]["methods"]),
    log:
        f"{LOGS}/continuum_peak_table.log",
    benchmark:
        f"{BENCH}/continuum_peak_table.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python -m workflow_lib peak-table --params {params.p:q} --components {input.components}"
        " --skymodel {input.skymodel} --image {params.images} --csv {output.csv} --md {output.md} > {log} 2>&1"

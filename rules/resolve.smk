# RESOLVE Bayesian imaging (NIFTy + ducc0) of the simulated field and of real ALMA data, next to tCLEAN.


include: "resolve_common.smk"


rule resolve_data:
    input:
        local_ms,
    output:
        directory("resources/{dataset}.ms"),
    params:
        p=resolve_data_params,
    log:
        f"{LOGS}/resolve_data/{{dataset}}.log",
    benchmark:
        f"{BENCH}/resolve_data/{{dataset}}.tsv"
    conda:
        "../envs/nifty.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=120,
    shell:
        "python -m workflow_lib resolve-data --params {params.p:q} --dest {output} > {log} 2>&1"


rule resolve_tclean_grid:
    input:
        ms="resources/{dataset}.ms",
    output:
        f"{R}/{{dataset}}/tclean_grid.fits",
    params:
        p=lambda w: params_json(
            data=RESOLVE["runs"][w.dataset]["data"],
            npix=RESOLVE["runs"][w.dataset]["compare"]["npix"],
            cell_arcsec=RESOLVE["runs"][w.dataset]["compare"]["cell_arcsec"],
        ),
    log:
        f"{LOGS}/resolve_tclean_grid/{{dataset}}.log",
    benchmark:
        f"{BENCH}/resolve_tclean_grid/{{dataset}}.tsv"
    conda:
        "../envs/nifty.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python -m workflow_lib resolve-grid --params {params.p:q} --ms {input.ms} --fits {output} > {log} 2>&1"


rule tclean_dataset:
    input:
        ms="resources/{dataset}.ms",
        skymodel=f"{R}/{{dataset}}/tclean_grid.fits",
    output:
        **image_files("{dataset}", "{method}", PRODUCTS_CLEAN),
    params:
        out=lambda w, output: out_args(output),
        p=lambda w: params_json(
            method=config["imaging"]["methods"][w.method],
            niter=RESOLVE["runs"][w.dataset]["compare"]["niter"],
            threshold_mjy=RESOLVE["runs"][w.dataset]["compare"]["threshold_mjy"],
            selection=tclean_selection(RESOLVE["runs"][w.dataset]["data"]),
        ),
    log:
        main=f"{LOGS}/tclean_{{method}}/{{dataset}}.log",
        casa=f"{LOGS}/tclean_{{method}}/{{dataset}}.casa.log",
    benchmark:
        f"{BENCH}/tclean_{{method}}/{{dataset}}.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "python -m workflow_lib tclean --params {params.p:q} --ms {input.ms} --skymodel {input.skymodel}"
        " --out {params.out} --casa-log {log.casa} > {log.main} 2>&1"


rule resolve:
    input:
        ms=resolve_ms,
    output:
        **resolve_rule_outputs(),
    params:
        p=lambda w: params_json(run=RESOLVE["runs"][w.run], seed=config["seed"], name=w.run),
        out=lambda w, output: pairs(output),
        state=f"{R}/{{run}}/resolve/.state",
    log:
        f"{LOGS}/resolve/{{run}}.log",
    benchmark:
        f"{BENCH}/resolve/{{run}}.tsv"
    conda:
        "../envs/nifty.yaml"
    threads: RESOLVE["threads"]
    resources:
        mem_mb=resolve_mem_mb,
        runtime=resolve_runtime,
    shell:
        "python -m workflow_lib resolve --params {params.p:q} --ms {input.ms} --threads {threads}"
        " --state {params.state} --out {params.out} > {log} 2>&1"


if resolve_settings.SIMULATED_RUN in RESOLVE_RUNS:

    rule resolve_continuum_table:
        input:
            components=f"{R}/continuum/components.ecsv",
            skymodel=f"{R}/continuum/skymodel.fits",
            images=compare_images("continuum").values(),
            resolve=resolve_files("continuum", ["samples", "mean", "std"]).values(),
        output:
            csv=resolve_report(f"{R}/tables/resolve_continuum_peak_flux.csv", "resolve_continuum_peak_flux",
                               "continuum"),
            md=f"{R}/tables/resolve_continuum_peak_flux.md",
            calibration_csv=resolve_report(f"{R}/tables/resolve_calibration.csv", "resolve_calibration",
                                           "continuum"),
            calibration_md=f"{R}/tables/resolve_calibration.md",
            png=resolve_report(f"{R}/figures/resolve_continuum.png", "resolve_continuum_figure", "continuum"),
            pdf=f"{R}/figures/resolve_continuum.pdf",
        params:
            images=pairs(compare_images("continuum")),
            resolve=pairs(resolve_files("continuum", ["samples", "mean", "std"])),
            out=lambda w, output: pairs(output),
            p=params_json(
                continuum=config["continuum"],
                observation=config["observation"],
                emission_fraction=RESOLVE_RUNS["continuum"]["compare"]["emission_fraction"],
            ),
        log:
            f"{LOGS}/resolve_continuum_table.log",
        benchmark:
            f"{BENCH}/resolve_continuum_table.tsv"
        conda:
            "../envs/nifty.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        shell:
            "python -m workflow_lib resolve-continuum-table --params {params.p:q} --components {input.components}"
            " --skymodel {input.skymodel} --image {params.images} --resolve {params.resolve} --out {params.out}"
            " > {log} 2>&1"


rule resolve_disk_table:
    input:
        images=lambda w: compare_images(w.dataset).values(),
        resolve=lambda w: resolve_files(w.dataset, ["samples", "mean", "std"]).values(),
    output:
        csv=resolve_report(f"{R}/tables/resolve_{{dataset}}_flux.csv", "resolve_disk_flux", "{dataset}"),
        md=f"{R}/tables/resolve_{{dataset}}_flux.md",
        png=resolve_report(f"{R}/figures/resolve_{{dataset}}.png", "resolve_disk_figure", "{dataset}"),
        pdf=f"{R}/figures/resolve_{{dataset}}.pdf",
    params:
        images=lambda w: pairs(compare_images(w.dataset)),
        resolve=lambda w: pairs(resolve_files(w.dataset, ["samples", "mean", "std"])),
        out=lambda w, output: pairs(output),
        p=lambda w: params_json(**RESOLVE["runs"][w.dataset]["compare"]),
    log:
        f"{LOGS}/resolve_disk_table/{{dataset}}.log",
    benchmark:
        f"{BENCH}/resolve_disk_table/{{dataset}}.tsv"
    conda:
        "../envs/nifty.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python -m workflow_lib resolve-disk-table --params {params.p:q} --image {params.images}"
        " --resolve {params.resolve} --out {params.out} > {log} 2>&1"

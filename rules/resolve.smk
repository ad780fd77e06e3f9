# RESOLVE Bayesian imaging (NIFTy + ducc0) of the simulated field and of real ALMA data, next to tCLEAN.


include: "resolve_common.smk"


rule resolve_data:
    input:
        local_ms,
    output:
        dest=directory("resources/{observed}.ms"),
    params:
        step="resolve.steps:fetch_data",
        data=fetched_data,
        # only archive runs depend on the switch: toggling it must not rerun the local ones
        network=lambda w: config["network"] and "url" in RESOLVE["runs"][w.observed]["data"],
    log:
        main=f"{LOGS}/resolve_data/{{observed}}.log",
        casa=f"{LOGS}/resolve_data/{{observed}}.casa.log",
    benchmark:
        f"{BENCH}/resolve_data/{{observed}}.tsv"
    conda:
        "../envs/nifty.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=120,
    script:
        "step.py"


rule resolve_tclean_grid:
    input:
        ms="resources/{observed}.ms",
    output:
        fits=f"{R}/{{observed}}/tclean_grid.fits",
    params:
        step="resolve.steps:tclean_grid",
        data=lambda w: RESOLVE["runs"][w.observed]["data"],
        npix=lambda w: RESOLVE["runs"][w.observed]["compare"]["npix"],
        cell_arcsec=lambda w: RESOLVE["runs"][w.observed]["compare"]["cell_arcsec"],
    log:
        f"{LOGS}/resolve_tclean_grid/{{observed}}.log",
    benchmark:
        f"{BENCH}/resolve_tclean_grid/{{observed}}.tsv"
    conda:
        "../envs/nifty.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=10,
    script:
        "step.py"


use rule tclean_method as tclean_observed with:
    input:
        ms="resources/{observed}.ms",
        skymodel=f"{R}/{{observed}}/tclean_grid.fits",
    output:
        **product_files(f"{R}/{{observed}}/images", "{method}"),
    params:
        step="imaging:tclean_to_fits",
        method=lambda w: config["imaging"]["methods"][w.method],
        niter=lambda w: RESOLVE["runs"][w.observed]["compare"]["niter"],
        threshold_mjy=lambda w: RESOLVE["runs"][w.observed]["compare"]["threshold_mjy"],
        selection=lambda w: data_selection(RESOLVE["runs"][w.observed]["data"]),
    log:
        main=f"{LOGS}/tclean_{{method}}/{{observed}}.log",
        casa=f"{LOGS}/tclean_{{method}}/{{observed}}.casa.log",
    benchmark:
        f"{BENCH}/tclean_{{method}}/{{observed}}.tsv"


rule resolve:
    input:
        ms=resolve_ms,
    output:
        **resolve_rule_outputs(),
    params:
        step="resolve.steps:run",
        run=lambda w: RESOLVE["runs"][w.run],
        seed=config["seed"],
        name=lambda w: w.run,
        state=f"{R}/{{run}}/resolve/.state",
    log:
        f"{LOGS}/resolve/{{run}}.log",
    benchmark:
        f"{BENCH}/resolve/{{run}}.tsv"
    conda:
        "../envs/nifty.yaml"
    threads: 1  # unless a profile says otherwise (set-threads); the products are the same on any count
    resources:
        mem_mb=resolve_mem_mb,
        runtime=resolve_runtime,
    script:
        "step.py"


# the simulated fields' tables; the continuum's rule is the template of the mosaic's and the decrement's, so it
# exists (reading the continuum run's settings, which config.yaml always has) even when that run is off
rule resolve_continuum_table:
    input:
        components=f"{R}/continuum/components.ecsv",
        skymodel=f"{R}/continuum/skymodel.fits",
        images=compare_images("continuum"),
        **resolve_files("continuum", ["samples", "mean", "std"]),
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
        step="resolve.steps:continuum_comparison",
        methods=RESOLVE["runs"]["continuum"]["compare"]["methods"],
        continuum=config["continuum"],
        observation=config["observation"],
        emission_fraction=RESOLVE["runs"]["continuum"]["compare"]["emission_fraction"],
    log:
        f"{LOGS}/resolve_continuum_table.log",
    benchmark:
        f"{BENCH}/resolve_continuum_table.tsv"
    conda:
        "../envs/nifty.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=10,
    script:
        "step.py"


rule resolve_cube_table:
    input:
        truth=spine_file("truth.ecsv"),
        skymodel=spine_file("skymodel.fits"),
        noise_record=spine_file("noise.json"),
        images=lambda w: compare_images(w.cube_run),
        **resolve_files("{cube_run}", ["samples", "mean"]),
    output:
        csv=resolve_report(f"{R}/tables/resolve_{{cube_run}}_lines.csv", "resolve_cube_lines", "{cube_run}"),
        md=f"{R}/tables/resolve_{{cube_run}}_lines.md",
        png=resolve_report(f"{R}/figures/resolve_{{cube_run}}.png", "resolve_cube_figure", "{cube_run}"),
        pdf=f"{R}/figures/resolve_{{cube_run}}.pdf",
    params:
        step="resolve.steps:cube_comparison",
        methods=lambda w: RESOLVE["runs"][w.cube_run]["compare"]["methods"],
    log:
        f"{LOGS}/resolve_cube_table/{{cube_run}}.log",
    benchmark:
        f"{BENCH}/resolve_cube_table/{{cube_run}}.tsv"
    conda:
        "../envs/nifty.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=10,
    script:
        "step.py"


rule resolve_disk_table:
    input:
        ms="resources/{observed}.ms",
        images=lambda w: compare_images(w.observed),
        models=lambda w: compare_images(w.observed, "model"),
        **resolve_files("{observed}", ["samples", "mean", "std"]),
    output:
        csv=resolve_report(f"{R}/tables/resolve_{{observed}}_flux.csv", "resolve_disk_flux", "{observed}"),
        md=f"{R}/tables/resolve_{{observed}}_flux.md",
        uv_csv=resolve_report(f"{R}/tables/resolve_{{observed}}_uv.csv", "resolve_disk_uv", "{observed}"),
        uv_md=f"{R}/tables/resolve_{{observed}}_uv.md",
        png=resolve_report(f"{R}/figures/resolve_{{observed}}.png", "resolve_disk_figure", "{observed}"),
        pdf=f"{R}/figures/resolve_{{observed}}.pdf",
    params:
        step="resolve.steps:disk_comparison",
        data=lambda w: RESOLVE["runs"][w.observed]["data"],
        primary_beam=lambda w: RESOLVE["runs"][w.observed]["image"]["primary_beam"],
        methods=lambda w: RESOLVE["runs"][w.observed]["compare"]["methods"],
        radii_arcsec=lambda w: RESOLVE["runs"][w.observed]["compare"]["radii_arcsec"],
        centre_offset_arcsec=lambda w: RESOLVE["runs"][w.observed]["compare"]["centre_offset_arcsec"],
    log:
        f"{LOGS}/resolve_disk_table/{{observed}}.log",
    benchmark:
        f"{BENCH}/resolve_disk_table/{{observed}}.tsv"
    conda:
        "../envs/nifty.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=10,
    script:
        "step.py"


if "mosaic" in RESOLVE_RUNS:

    use rule resolve_tclean_grid as mosaic_tclean_grid with:
        input:
            ms=f"{R}/mosaic/sim.ms",
        output:
            fits=f"{R}/mosaic/tclean_grid.fits",
        params:
            step="resolve.steps:tclean_grid",
            data=RESOLVE_RUNS["mosaic"]["data"],
            npix=config["mosaic"]["npix"],
            cell_arcsec=config["mosaic"]["cell_arcsec"],
        log:
            f"{LOGS}/mosaic_tclean_grid.log",
        benchmark:
            f"{BENCH}/mosaic_tclean_grid.tsv"

    use rule tclean_observed as tclean_mosaic with:
        input:
            ms=f"{R}/mosaic/sim.ms",
            skymodel=f"{R}/mosaic/tclean_grid.fits",
        output:
            **product_files(f"{R}/mosaic/images", "{method}"),
        params:
            step="imaging:tclean_to_fits",
            method=lambda w: config["imaging"]["methods"][w.method],
            niter=config["imaging"]["continuum"]["niter"],
            threshold_mjy=config["imaging"]["continuum"]["threshold_mjy"],
            selection=data_selection(RESOLVE_RUNS["mosaic"]["data"]),
        log:
            main=f"{LOGS}/tclean_{{method}}/mosaic.log",
            casa=f"{LOGS}/tclean_{{method}}/mosaic.casa.log",
        benchmark:
            f"{BENCH}/tclean_{{method}}/mosaic.tsv"

    use rule resolve_continuum_table as resolve_mosaic_table with:
        input:
            components=f"{R}/continuum/components.ecsv",
            skymodel=f"{R}/continuum/skymodel.fits",
            images=compare_images("mosaic"),
            **resolve_files("mosaic", ["samples", "mean", "std"]),
        output:
            csv=resolve_report(f"{R}/tables/resolve_mosaic_peak_flux.csv", "resolve_mosaic_peak_flux", "mosaic"),
            md=f"{R}/tables/resolve_mosaic_peak_flux.md",
            calibration_csv=resolve_report(f"{R}/tables/resolve_mosaic_calibration.csv", "resolve_mosaic_calibration",
                                           "mosaic"),
            calibration_md=f"{R}/tables/resolve_mosaic_calibration.md",
            png=resolve_report(f"{R}/figures/resolve_mosaic.png", "resolve_mosaic_figure", "mosaic"),
            pdf=f"{R}/figures/resolve_mosaic.pdf",
        params:
            step="resolve.steps:continuum_comparison",
            methods=RESOLVE_RUNS["mosaic"]["compare"]["methods"],
            continuum=config["continuum"],
            observation=config["observation"],
            emission_fraction=RESOLVE_RUNS["mosaic"]["compare"]["emission_fraction"],
            label=f"Mosaic of the continuum field ({len(config['mosaic']['pointings_arcsec'])} pointings)",
        log:
            f"{LOGS}/resolve_mosaic_table.log",
        benchmark:
            f"{BENCH}/resolve_mosaic_table.tsv"


if "decrement" in RESOLVE_RUNS:

    use rule resolve_continuum_table as resolve_decrement_table with:
        input:
            components=f"{R}/decrement/components.ecsv",
            skymodel=f"{R}/decrement/skymodel.fits",
            images=compare_images("decrement"),
            **resolve_files("decrement", ["samples", "mean", "std"]),
        output:
            csv=resolve_report(f"{R}/tables/resolve_decrement_flux.csv", "resolve_decrement_flux", "decrement"),
            md=f"{R}/tables/resolve_decrement_flux.md",
            calibration_csv=resolve_report(f"{R}/tables/resolve_decrement_calibration.csv",
                                           "resolve_decrement_calibration", "decrement"),
            calibration_md=f"{R}/tables/resolve_decrement_calibration.md",
            png=resolve_report(f"{R}/figures/resolve_decrement.png", "resolve_decrement_figure", "decrement"),
            pdf=f"{R}/figures/resolve_decrement.pdf",
        params:
            step="resolve.steps:continuum_comparison",
            methods=RESOLVE_RUNS["decrement"]["compare"]["methods"],
            continuum=config["decrement"],
            observation=config["observation"],
            emission_fraction=RESOLVE_RUNS["decrement"]["compare"]["emission_fraction"],
            label="Decrement field (signed sky)",
            measure="flux",
        log:
            f"{LOGS}/resolve_decrement_table.log",
        benchmark:
            f"{BENCH}/resolve_decrement_table.tsv"

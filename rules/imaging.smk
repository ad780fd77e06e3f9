# tCLEAN: the dirty image (niter 0, natural weighting) and named reconstructions.


rule tclean_dirty:
    input:
        ms=f"{R}/{{target}}/sim.ms",
        skymodel=f"{R}/{{target}}/skymodel.fits",
    output:
        **product_files(f"{R}/{{target}}/images", "dirty", PRODUCTS_DIRTY),
    params:
        step="imaging:tclean_to_fits",
    log:
        main=f"{LOGS}/tclean_dirty/{{target}}.log",
        casa=f"{LOGS}/tclean_dirty/{{target}}.casa.log",
    benchmark:
        f"{BENCH}/tclean_dirty/{{target}}.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=30,
    script:
        "step.py"


rule tclean_method:
    input:
        ms=f"{R}/{{target}}/sim.ms",
        skymodel=f"{R}/{{target}}/skymodel.fits",
    output:
        **product_files(f"{R}/{{target}}/images", "{method}"),
    params:
        step="imaging:tclean_to_fits",
        method=lambda w: config["imaging"]["methods"][w.method],
        niter=lambda w: imaging_section(w.target)["niter"],
        threshold_mjy=lambda w: imaging_section(w.target)["threshold_mjy"],
    log:
        main=f"{LOGS}/tclean_{{method}}/{{target}}.log",
        casa=f"{LOGS}/tclean_{{method}}/{{target}}.casa.log",
    benchmark:
        f"{BENCH}/tclean_{{method}}/{{target}}.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=60,
    script:
        "step.py"

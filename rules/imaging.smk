# tCLEAN: the dirty image (niter 0, natural weighting) and named reconstructions.


rule tclean_dirty:
    input:
        ms=f"{R}/{{target}}/sim.ms",
        skymodel=f"{R}/{{target}}/skymodel.fits",
    output:
        **image_files("{target}", "dirty", PRODUCTS_DIRTY),
    params:
        out=lambda w, output: out_args(output),
    log:
        main=f"{LOGS}/tclean_dirty/{{target}}.log",
        casa=f"{LOGS}/tclean_dirty/{{target}}.casa.log",
    benchmark:
        f"{BENCH}/tclean_dirty/{{target}}.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "python -m workflow_lib tclean --ms {input.ms} --skymodel {input.skymodel}"
        " --out {params.out} --casa-log {log.casa} > {log.main} 2>&1"


rule tclean_method:
    input:
        ms=f"{R}/{{target}}/sim.ms",
        skymodel=f"{R}/{{target}}/skymodel.fits",
    output:
        **image_files("{target}", "{method}", PRODUCTS_CLEAN),
    params:
        out=lambda w, output: out_args(output),
        p=lambda w: params_json(
            method=config["imaging"]["methods"][w.method],
            niter=imaging_section(w.target)["niter"],
            threshold_mjy=imaging_section(w.target)["threshold_mjy"],
        ),
    log:
        main=f"{LOGS}/tclean_{{method}}/{{target}}.log",
        casa=f"{LOGS}/tclean_{{method}}/{{target}}.casa.log",
    benchmark:
        f"{BENCH}/tclean_{{method}}/{{target}}.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "python -m workflow_lib tclean --params {params.p:q} --ms {input.ms} --skymodel {input.skymodel}"
        " --out {params.out} --casa-log {log.casa} > {log.main} 2>&1"

# Sky models (Jy/pixel FITS) and their truth catalogues.


rule continuum_skymodel:
    output:
        fits=f"{R}/continuum/skymodel.fits",
        catalogue=f"{R}/continuum/components.ecsv",
    params:
        step="skymodels:write_continuum_field",
        continuum=config["continuum"],
        observation=config["observation"],
    log:
        f"{LOGS}/continuum_skymodel.log",
    benchmark:
        f"{BENCH}/continuum_skymodel.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=10,
    script:
        "step.py"


if "decrement" in config:

    use rule continuum_skymodel as decrement_skymodel with:
        output:
            fits=f"{R}/decrement/skymodel.fits",
            catalogue=f"{R}/decrement/components.ecsv",
        params:
            step="skymodels:write_continuum_field",
            continuum=config["decrement"],
            observation=config["observation"],
        log:
            f"{LOGS}/decrement_skymodel.log",
        benchmark:
            f"{BENCH}/decrement_skymodel.tsv"


rule cube_skymodel:
    output:
        fits=f"{R}/cubes/cube_{{index}}/skymodel.fits",
        catalogue=f"{R}/cubes/cube_{{index}}/truth.ecsv",
    params:
        step="skymodels:write_random_cube",
        cubes=config["cubes"],
        observation=config["observation"],
        seed=config["seed"],
        index=lambda w: int(w.index),
    log:
        f"{LOGS}/cube_skymodel/cube_{{index}}.log",
    benchmark:
        f"{BENCH}/cube_skymodel/cube_{{index}}.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=10,
    script:
        "step.py"

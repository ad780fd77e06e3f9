# Simulated ALMA observations with CASA simobserve plus thermal noise.


rule simulate_casa:
    input:
        skymodel=f"{R}/{{target}}/skymodel.fits",
    output:
        ms=temp(directory(f"{R}/{{target}}/sim.ms")),
        record=f"{R}/{{target}}/noise.json",
    params:
        step="simulate.observe:simulate_observation",
        observation=config["observation"],
        noise=lambda w: target_section(w.target)["noise"],
        seed=config["seed"],
        stream=lambda w: noise_stream(w.target),
    log:
        main=f"{LOGS}/simulate_casa/{{target}}.log",
        casa=f"{LOGS}/simulate_casa/{{target}}.casa.log",
    benchmark:
        f"{BENCH}/simulate_casa/{{target}}.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=30,
    script:
        "step.py"


use rule simulate_casa as simulate_mosaic with:
    input:
        skymodel=f"{R}/continuum/skymodel.fits",
    output:
        ms=temp(directory(f"{R}/mosaic/sim.ms")),
        record=f"{R}/mosaic/noise.json",
    params:
        step="simulate.observe:simulate_observation",
        observation=config["observation"],
        noise=config["mosaic"]["noise"],
        seed=config["seed"],
        stream=["mosaic"],
        pointings_arcsec=config["mosaic"]["pointings_arcsec"],
    log:
        main=f"{LOGS}/simulate_mosaic.log",
        casa=f"{LOGS}/simulate_mosaic.casa.log",
    benchmark:
        f"{BENCH}/simulate_mosaic.tsv"

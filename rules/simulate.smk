# Simulated ALMA observations with CASA simobserve plus thermal noise.


rule simulate_casa:
    input:
        skymodel=f"{R}/{{target}}/skymodel.fits",
    output:
        ms=ms_path("{target}"),
        record=f"{R}/{{target}}/noise.json",
    params:
        p=lambda w: params_json(
            observation=config["observation"],
            noise=target_section(w.target)["noise"],
            seed=config["seed"],
            stream=noise_stream(w.target),
        ),
    log:
        main=f"{LOGS}/simulate_casa/{{target}}.log",
        casa=f"{LOGS}/simulate_casa/{{target}}.casa.log",
    benchmark:
        f"{BENCH}/simulate_casa/{{target}}.tsv"
    conda:
        "../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "python -m workflow_lib simulate --params {params.p:q} --skymodel {input.skymodel}"
        " --ms {output.ms} --record {output.record} --casa-log {log.casa} > {log.main} 2>&1"

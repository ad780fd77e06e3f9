"""Configuration: schema errors and consistency checks name the offending key."""

import pytest
import yaml

from workflow_lib import config
from conftest import ROOT, raw_tiny, run_snakemake


def load_with(tmp_path, mutate):
    cfg = raw_tiny()
    mutate(cfg)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return config.load(path)


def test_demo_paper_and_medium_configs_are_valid():
    for name in ("config.yaml", "paper.yaml", "medium.yaml"):
        cfg = config.load(ROOT / "config" / name)
        assert cfg["observation"]["antenna_config"] == "alma.cycle9.3"
    medium = config.load(ROOT / "config" / "medium.yaml")   # an overlay: the demo's tile and independent set
    assert medium["dataset"]["count"] == 3000 and medium["dataset"]["npix"] == 64
    assert medium["independent"] == config.load()["independent"]


def test_defaults_are_filled(tiny_config):
    assert tiny_config["cubes"]["line_fwhm_chan"] == [3, 10]
    assert tiny_config["network"] is False
    assert tiny_config["continuum"]["bandwidth_ghz"] == 2.0


@pytest.mark.parametrize("mutate,key", [
    (lambda c: c["continuum"].update(nipx=3), "nipx"),
    (lambda c: c["continuum"].update(noise={"rms_jy_per_beam": -1.0}), "rms_jy_per_beam"),
    (lambda c: c["continuum"].update(npix=8), "npix"),
    (lambda c: c["observation"].update(ref_date="21.03.2024"), "ref_date"),
    (lambda c: c["imaging"].setdefault("methods", {}).update(hogbom_natural={"weighting": "uniformish"}),
     "weighting"),
    (lambda c: c["dataset"].update(shards=3), "shards"),
    (lambda c: c["dataset"].update(backend="wsclean"), "backend"),
    (lambda c: c["independent"]["fields"].update(Wide={"count": 1, "npix": 64, "n_sources": [1, 2]}), "fields"),
    (lambda c: c["independent"]["fields"]["tile"].update(snr=3), "independent.fields.tile"),
])
def test_schema_errors_name_the_key(tmp_path, mutate, key):
    with pytest.raises(config.ConfigError, match=f"{key}.*schema|schema.*{key}"):
        load_with(tmp_path, mutate)


@pytest.mark.parametrize("mutate,message", [
    (lambda c: c["observation"].update(antenna_config="alma.cycle99.3"), "observation.antenna_config"),
    (lambda c: c["continuum"].update(cell_arcsec=0.5), "continuum.cell_arcsec"),
    (lambda c: c["continuum"].update(npix=32, cell_arcsec=0.05), "continuum.npix"),
    (lambda c: c["continuum"]["components"][1].update(offset_arcsec=[9.0, 0.0]), r"components\[B\].offset_arcsec"),
    (lambda c: c["continuum"]["components"][1].update(fwhm_minor_arcsec=1.0), r"components\[B\]: fwhm_minor"),
    (lambda c: c["cubes"].update(nchan=12), "cubes.nchan"),
    (lambda c: c["cubes"].update(line_flux_mjy=[5.0, 1.0]), "cubes.line_flux_mjy"),
    (lambda c: c["cubes"].update(n_sources=[5, 5], min_separation_arcsec=4.0), "cubes.min_separation_arcsec"),
    (lambda c: c["imaging"]["cubes"].update(methods=["multiscale"]), "imaging.cubes.methods"),
    (lambda c: c["dataset"].update(edge_margin_arcsec=1.0), "dataset.min_separation_arcsec"),
    (lambda c: c["dataset"].update(split={"train": 0.7, "validation": 0.2, "test": 0.2}), "dataset.split"),
    (lambda c: c["dataset"].update(split={"train": 0.9, "validation": 0.1, "test": 0.0}), "dataset.split.test"),
    (lambda c: c["dataset"].update(backend="casa", noise_draw="image"), "dataset.noise_draw"),
    (lambda c: c["independent"]["fields"]["wide"].update(npix=16), "independent.fields.wide.npix"),
    (lambda c: c["independent"]["fields"]["wide"].update(npix=30), "independent.fields.wide.npix"),
    (lambda c: c["independent"]["fields"]["tile"].update(n_sources=[3, 2]), "independent.fields.tile.n_sources"),
    (lambda c: c["independent"]["observation"].update(total_time_s=10), "independent.observation.total_time_s"),
])
def test_consistency_errors_name_the_key(tmp_path, mutate, message):
    with pytest.raises(config.ConfigError, match=message):
        load_with(tmp_path, mutate)


def test_snakemake_reports_bad_config_before_any_job(tmp_path):
    cfg = raw_tiny()
    cfg["continuum"]["noise"] = {"rms_jy_per_beam": -0.1}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run = run_snakemake(tmp_path, "-n", configfile=path)
    assert run.returncode != 0
    assert "rms_jy_per_beam" in run.stdout + run.stderr
    assert not (tmp_path / "results").exists()


def _psf(run):
    run["response"] = {"mode": "psf"}
    return run


@pytest.mark.parametrize("mutate,message", [
    (lambda r: r.update(disk={"data": {"simulated": "continuum"}, "image": {"npix": 64, "cell_arcsec": 0.2}}),
     "resolve.runs.disk.data: the runs named continuum, mosaic, decrement, and only they"),
    (lambda r: r.update(disk={"data": {"simulated": "mosaic", "mosaic": True}}),
     "resolve.runs.disk.data: the runs named"),
    (lambda r: r["mosaic"].update(enabled=True, data={"simulated": "mosaic", "mosaic": False},
                                  compare={"methods": ["hogbom_natural"]}),
     "resolve.runs.mosaic.data: the simulated mosaic needs mosaic: true"),
    (lambda r: r.update(disk={"data": {"path": "x.ms", "mosaic": True, "field": 2}}),
     "resolve.runs.disk.data: mosaic: true images every field with data; field must be null"),
    (lambda r: r.update(disk={"data": {"url": "https://example.invalid/x.tgz"}, "image": {"npix": 64, "cell_arcsec": 0.2}}),
     "resolve.runs.disk.data: does not match config/schema.yaml"),   # a url needs its member
    (lambda r: r["continuum"]["compare"].update(methods=["hogbom_briggs"]), "resolve.runs.continuum.compare.methods"),
    (lambda r: r.update(lines={"data": {"simulated": "cubes/cube_0000"}}),
     r"resolve.runs.lines.data: a simulated cube \(cubes/cube_0000\) is imaged as a cube; cube must be true"),
    (lambda r: r.update(lines={"data": {"simulated": "cubes/cube_0005", "cube": True}}),
     r"resolve.runs.lines.data.simulated: cubes/cube_0005 is not simulated \(cubes.count is 1\)"),
    (lambda r: r.update(lines={"data": {"simulated": "cubes/cube_1", "cube": True}}),
     "resolve.runs.lines.data.simulated: does not match config/schema.yaml"),
    (lambda r: r["continuum"].update(data={"simulated": "cubes/cube_0000", "cube": True}),
     "resolve.runs.continuum.data: the run 'continuum' images the simulated continuum"),
    (lambda r: r["cube"]["data"].update(channels=[0, 8]),
     "resolve.runs.cube.data: a simulated cube is imaged whole, one field and window; leave channels unset"),
    (lambda r: r["cube"].update(image={"npix": 48}),
     r"resolve.runs.cube.image: a simulated cube is imaged on its own grid, npix 64 and cell_arcsec 0.1"),
    (lambda r: r["cube"].update(compare={"methods": ["hogbom_briggs"]}),
     r"resolve.runs.cube.compare.methods: 'hogbom_briggs' is not one of \['hogbom_natural'\] \(imaging.cubes"),
    (lambda r: r.update(disk={"data": {"path": "x.ms", "channels": [5, 2]}, "image": {"npix": 64, "cell_arcsec": 0.2}}),
     "resolve.runs.disk.data.channels"),
    (lambda r: r.update(disk={"data": {"path": "x.ms", "cube": True, "average_channels": True}}),
     "resolve.runs.disk.data: a cube keeps every channel as a plane; average_channels must be false"),
    (lambda r: r.update(disk={"data": {"path": "x.ms", "cube": True}, "sky": {"point_sources": {"q_jy_per_pixel": 1e-4}}}),
     "resolve.runs.disk.sky: a cube's sky is one log-normal field"),
    (lambda r: r.update(disk={"data": {"path": "x.ms", "cube": True}, "sky": {"absorption": {"enabled": True}}}),
     "resolve.runs.disk.sky: a cube's sky is one log-normal field"),
    (lambda r: r["continuum"]["inference"]["schedule"][0].update(learn_noise=True), "the first phase must keep"),
    (lambda r: r["continuum"]["inference"]["schedule"][-1].update(samples=0), "the last phase needs samples > 0"),
    (lambda r: _psf(r["continuum"]).update(noise={"model": "uvfield"}), "uvfield needs response.mode exact"),
    (lambda r: r["continuum"].update(response={"mode": "psf", "wgridding": True}), "wgridding true needs mode exact"),
])
def test_resolve_errors_name_the_run_and_key(tmp_path, mutate, message):
    with pytest.raises(config.ConfigError, match=message):
        load_with(tmp_path, lambda c: mutate(c["resolve"]["runs"]))


def test_only_the_decrement_field_may_hold_negative_flux(tmp_path):
    with pytest.raises(config.ConfigError, match=r"continuum.components\[A\].flux_mjy=-1: the continuum field is "
                                                 "positive"):
        load_with(tmp_path, lambda c: c["continuum"]["components"][0].update(flux_mjy=-1))
    loaded = load_with(tmp_path, lambda c: c.update(decrement={"components": [
        {"name": "SZ", "offset_arcsec": [0, 0], "flux_mjy": -5, "fwhm_major_arcsec": 3, "fwhm_minor_arcsec": 2,
         "pa_deg": 0}]}))
    assert loaded["decrement"]["components"][0]["flux_mjy"] == -5


def test_deepfocus_tclean_method_must_exist(tmp_path):
    with pytest.raises(config.ConfigError, match="deepfocus.evaluation.tclean_method='nope'"):
        load_with(tmp_path, lambda c: c["deepfocus"]["evaluation"].update(tclean_method="nope"))


def test_overlays_merge_mappings_and_replace_lists_and_noise():
    base = {"a": {"x": 1, "y": [1, 2]}, "cubes": {"noise": {"snr": 5}, "npix": 64},
            "resolve": {"runs": {"r": {"noise": {"model": "scale", "scale": [1, 0.5]}}}}}
    merged = config.merge(base, {"a": {"y": [3]}, "cubes": {"noise": {"rms_jy_per_beam": 0.1}},
                                 "resolve": {"runs": {"r": {"noise": {"scale": [2, 1]}}}}})
    assert merged["a"] == {"x": 1, "y": [3]}
    assert merged["cubes"] == {"noise": {"rms_jy_per_beam": 0.1}, "npix": 64}           # alternatives: replaced
    assert merged["resolve"]["runs"]["r"]["noise"] == {"model": "scale", "scale": [2, 1]}  # a RESOLVE noise model
    assert base["a"]["y"] == [1, 2]   # the base is not touched
    # an overlay's independent fields are the whole set (the tiny config's three kinds, not the demo's plus)
    fields = config.merge({"independent": {"fields": {"tile": {"count": 20}, "wide": {"count": 6}}}},
                          {"independent": {"fields": {"tile": {"count": 1}}}})["independent"]["fields"]
    assert fields == {"tile": {"count": 1}}


def test_paper_config_is_an_overlay_on_the_demo():
    demo, paper = config.load(), config.load(ROOT / "config" / "paper.yaml")
    assert paper["observation"] == demo["observation"] and paper["continuum"] == demo["continuum"]
    assert paper["dataset"]["count"] == 5000 and paper["dataset"]["split"] == demo["dataset"]["split"]
    assert paper["resolve"]["runs"]["hd142527"]["compare"]["radii_arcsec"] == [0.5, 1.0, 1.5, 2.0]
    assert paper["resolve"]["runs"]["hd142527"]["noise"]["model"] == "uvfield"
    assert set(paper["resolve"]["runs"]) == {"continuum", "mosaic", "decrement", "cube", "hd142527", "sz114", "hltau"}
    assert paper["resolve"]["runs"]["cube"]["image"]["npix"] == paper["cubes"]["npix"]   # the whole cube

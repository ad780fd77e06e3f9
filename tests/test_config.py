"""Configuration: schema errors and consistency checks name the offending key."""

import pytest
import yaml
from snakemake.exceptions import WorkflowError

from workflow_lib import config
from conftest import ROOT, raw_tiny, run_snakemake


def load_with(tmp_path, mutate):
    cfg = raw_tiny()
    mutate(cfg)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return config.load(path)


def test_demo_and_paper_configs_are_valid():
    for name in ("config.yaml", "paper.yaml"):
        cfg = config.load(ROOT / "config" / name)
        assert cfg["observation"]["antenna_config"] == "alma.cycle9.3"


def test_defaults_are_filled(tiny_config):
    assert tiny_config["cubes"]["line_fwhm_chan"] == [3, 10]
    assert tiny_config["keep_measurement_sets"] is False
    assert tiny_config["continuum"]["bandwidth_ghz"] == 2.0


@pytest.mark.parametrize("mutate,key", [
    (lambda c: c["continuum"].update(nipx=3), "nipx"),
    (lambda c: c["continuum"].update(noise={"rms_jy_per_beam": -1.0}), "rms_jy_per_beam"),
    (lambda c: c["continuum"].update(npix=8), "npix"),
    (lambda c: c["observation"].update(ref_date="21.03.2024"), "ref_date"),
    (lambda c: c["imaging"]["methods"]["hogbom_natural"].update(weighting="uniformish"), "weighting"),
    (lambda c: c["dataset"].update(shards=3), "shards"),
    (lambda c: c["dataset"].update(backend="wsclean"), "backend"),
])
def test_schema_errors_name_the_key(tmp_path, mutate, key):
    with pytest.raises(WorkflowError, match=key):
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

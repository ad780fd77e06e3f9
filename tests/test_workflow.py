"""End to end through Snakemake on the tiny config: simulate, image, tabulate, then nothing to redo."""

import json

import numpy as np
import pytest
from astropy.table import Table

from conftest import run_snakemake
from workflow_lib import fitsio


@pytest.fixture(scope="module")
def run(tiny_run):
    return tiny_run


def expected_dirty_peak(flux, fwhm_major, fwhm_minor, beam):
    """Peak (Jy/beam) of a Gaussian source seen through a Gaussian beam of the same flux scale."""
    bmaj, bmin, _ = beam
    return flux * bmaj * bmin / np.sqrt((bmaj**2 + fwhm_major**2) * (bmin**2 + fwhm_minor**2))


def test_dirty_image_shows_the_source_at_its_catalogue_position(run):
    components = Table.read(run / "continuum" / "components.ecsv")
    dirty, header = fitsio.read_cube(run / "continuum" / "images" / "dirty.image.fits")
    pb, _ = fitsio.read_cube(run / "continuum" / "images" / "dirty.pb.fits")
    beam = fitsio.beam_arcsec(header)
    wcs = fitsio.wcs_of(header).celestial
    for comp in components:
        # the WCS of the dirty image maps the catalogue RA/Dec to the catalogue pixel
        x, y = wcs.world_to_pixel_values(comp["ra_deg"], comp["dec_deg"])
        assert (x, y) == pytest.approx((comp["x_pix"], comp["y_pix"]), abs=1e-6)
        cut = dirty[0, int(y) - 3:int(y) + 4, int(x) - 3:int(x) + 4]
        py, px = np.unravel_index(np.argmax(cut), cut.shape)
        assert (px - 3, py - 3) == (0, 0), "dirty peak not at the catalogue position"
        expected = expected_dirty_peak(comp["flux_jy"], comp["fwhm_major_arcsec"], comp["fwhm_minor_arcsec"], beam)
        expected *= pb[0, int(y), int(x)]  # simobserve applies the 12 m primary beam
        assert cut.max() == pytest.approx(expected, rel=0.04)


def test_clean_table_and_products(run):
    table = Table.read(run / "tables" / "continuum_peak_flux.csv")
    assert list(table["component"]) == ["A", "B"]
    # noise-free data cleaned to a low threshold: peaks within a few percent of the beam-convolved model
    np.testing.assert_allclose(table["hogbom_natural_ratio"], 1.0, atol=0.05)
    md = (run / "tables" / "continuum_peak_flux.md").read_text()
    assert md.startswith("# Continuum field") and "| A |" in md
    cube, header = fitsio.read_cube(run / "cubes" / "cube_0000" / "images" / "hogbom_natural.image.fits")
    assert cube.shape == (24, 64, 64) and "BMAJ" in header
    truth = Table.read(run / "cubes" / "cube_0000" / "truth.ecsv")
    assert len(truth) == 2
    record = json.loads((run / "cubes" / "cube_0000" / "noise.json").read_text())
    assert record["snr"] == 50 and record["target_rms_jy_per_beam"] > 0
    # measurement sets are temporary by default
    assert not (run / "continuum" / "sim.ms").exists()
    for rule in ("simulate_casa", "tclean_dirty", "tclean_hogbom_natural"):
        assert (run / "benchmarks" / rule / "continuum.tsv").is_file()


def test_dataset_is_built_and_split(run):
    manifest = json.loads((run / "dataset" / "manifest.json").read_text())
    assert manifest["count"] == 6 and len(manifest["shards"]) == 2
    assert sorted(sum(manifest["split"].values(), [])) == list(range(6))
    assert (run / "benchmarks" / "dataset_shard" / "0001.tsv").is_file()


def test_figures_tables_and_report(run):
    bench = Table.read(run / "tables" / "benchmarks.csv")
    assert {"simulate_casa", "tclean_dirty", "dataset_shard"} <= set(bench["rule"])
    assert (bench["total_s"] > 0).all()
    speed = Table.read(run / "tables" / "speed.csv")
    assert {"CASA simobserve + thermal noise", "ducc backend (dataset shards, 1 thread each)",
            "DeepFocus whole pipeline, batched (cpu)", "RESOLVE continuum (exact mode)"} <= set(speed["method"])
    assert (speed["s_per_item"] > 0).all()
    assert (run / "figures" / "continuum_tclean.pdf").stat().st_size > 1000
    result = run_snakemake(run.parent.parent, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (run.parent.parent / "report.html").read_text()
    assert "continuum_tclean.png" in html and "Table 2 layout" in html
    # captions of report entries (file names alone also appear in the rules' code listings)
    for caption in ("Speed of each method in this run", "The simulated continuum field (the study's Fig. 9)",
                    "posterior power spectrum of the log-sky", "correlated-field hyperparameters",
                    "DeepFocus detection on the test split", "DeepFocus stage by stage on the first test cubes",
                    "Where DeepFocus loses the true sources of the test split",
                    "The independent test set per field kind"):
        assert caption in html, caption


def test_stage_losses_follow_every_true_source(run):
    losses = Table.read(run / "tables" / "deepfocus_stage_losses.csv")
    detection = Table.read(run / "tables" / "deepfocus_detection.csv")
    overall = losses[losses["snr_bin"] == "all"][0]
    stages = ["blobsfinder", "deepgru", "line_merging", "focusing_rules", "box_3d", "characterised"]
    assert all(overall[a] >= overall[b] for a, b in zip(stages, stages[1:]))   # cumulative: never rises
    assert overall["box_3d"] <= overall["box_3d_any"]
    assert overall["n_true"] == detection[detection["method"] == "DeepFocus (3-D)"]["n_true"][0]
    completeness = detection[(detection["method"] == "DeepFocus (3-D)") & (detection["snr_bin"] == "all")]
    assert overall["box_3d_any"] == completeness["completeness"][0]


def test_independent_test_set_is_scored_beside_the_test_split(run, tiny_config):
    """CASA-made cubes of every field kind, DeepFocus and PyBDSF on them, the tables consistent with the truth."""
    fields = tiny_config["independent"]["fields"]
    truths = {p.parent.name: Table.read(p) for p in (run / "independent").glob("*/truth.ecsv")}
    assert sorted(truths) == sorted(f"{kind}_{k:02d}" for kind, f in fields.items() for k in range(f["count"]))
    for name, truth in truths.items():
        lo, hi = fields[name.rsplit("_", 1)[0]]["n_sources"]
        assert lo <= len(truth) <= hi
        record = json.loads((run / "independent" / name / "record.json").read_text())
        assert record["thermal_noise"]["mode"] == "tsys-atm" and record["noise_rms_jy_per_beam"] > 0
    detection = Table.read(run / "tables" / "deepfocus_independent_detection.csv")
    overall = detection[(detection["snr_bin"] == "all") & (detection["method"] == "DeepFocus (3-D)")]
    assert list(overall["test_set"]) == ["ducc test split", "CASA independent"]
    assert {"DeepFocus (2-D)", "Smooth-and-clip (3-D)", "PyBDSF dirty (2-D)"} < set(detection["method"])
    assert overall["n_true"][1] == sum(len(t) for t in truths.values())
    ducc = Table.read(run / "tables" / "deepfocus_detection.csv")
    ducc = ducc[(ducc["method"] == "DeepFocus (3-D)") & (ducc["snr_bin"] == "all")][0]
    assert (overall["n_true"][0], overall["completeness"][0]) == (ducc["n_true"], ducc["completeness"])
    per_field = Table.read(run / "tables" / "deepfocus_independent_fields.csv")
    df = per_field[per_field["method"] == "DeepFocus (3-D)"]
    kinds = df[df["field"] != "no source"]
    assert list(kinds["field"]) == list(fields) and kinds["n_true"].sum() == overall["n_true"][1]
    assert df[df["field"] == "no source"]["cubes"][0] == sum(len(t) == 0 for t in truths.values())
    assert df[df["field"] == "wide"]["tiles"][0] == 4 * fields["wide"]["count"]
    catalogue = Table.read(run / "deepfocus" / "independent" / "catalogue.ecsv")
    assert kinds["detections"].sum() == overall["n_detected"][1] == len(catalogue)
    assert (run / "figures" / "deepfocus_independent_completeness.pdf").stat().st_size > 1000
    losses = Table.read(run / "tables" / "deepfocus_independent_stage_losses.csv")
    overall_losses = losses[losses["snr_bin"] == "all"]
    every = overall_losses[overall_losses["field"] == "all"][0]
    assert every["n_true"] == overall["n_true"][1]
    assert every["box_3d_any"] == pytest.approx(overall["completeness"][1])  # the same 3-D matcher
    with_sources = [kind for kind in fields if any(len(t) for n, t in truths.items() if n.startswith(kind))]
    assert list(overall_losses["field"]) == ["all", *with_sources]
    assert overall_losses["n_true"][1:].sum() == every["n_true"]
    stages = np.array([list(row) for row in losses["blobsfinder", "deepgru", "line_merging", "focusing_rules",
                                                   "box_3d", "characterised"]], float)
    assert np.all(np.diff(np.nan_to_num(stages), axis=1) <= 0)  # cumulative: no stage gains sources


def test_second_run_has_nothing_to_do(run):
    result = run_snakemake(run.parent.parent, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_failed_rule_leaves_no_output(tmp_path):
    """An observation date outside the leap-second table fails in simulate_casa, naming the key; nothing is left."""
    import yaml

    from conftest import raw_tiny

    cfg = raw_tiny()
    cfg["observation"]["ref_date"] = "2031/01/01"
    path = tmp_path / "late.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = run_snakemake(tmp_path, "results/tiny/continuum/noise.json", configfile=path)
    assert result.returncode != 0
    log = (tmp_path / "results" / "tiny" / "logs" / "simulate_casa" / "continuum.log").read_text()
    assert "observation.ref_date=2031/01/01" in log
    assert not (tmp_path / "results" / "tiny" / "continuum" / "sim.ms").exists()
    assert not (tmp_path / "results" / "tiny" / "continuum" / "noise.json").exists()


def test_image_domain_noise_dataset_and_its_tclean_cube(tmp_path):
    """With dataset.noise_draw image the shards hold the configured noise and tCLEAN's test cube gets an
    independent visibility draw of the same RMS, which its timing record says."""
    import yaml

    from conftest import raw_tiny
    from workflow_lib.dataset.torch_dataset import CubeDataset
    from workflow_lib.deepfocus.preprocess import robust_rms

    cfg = raw_tiny()
    cfg["dataset"]["noise_draw"] = "image"
    path = tmp_path / "image_noise.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run_dir = tmp_path / "results" / "tiny"
    result = run_snakemake(tmp_path, "results/tiny/deepfocus/tclean/cube_0000/timing.json", configfile=path)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((run_dir / "deepfocus" / "tclean" / "cube_0000" / "timing.json").read_text())
    assert record["noise"] == "an independent draw of the same RMS"
    rms = cfg["dataset"]["noise"]["rms_jy_per_beam"]
    ds = CubeDataset(str(run_dir / "dataset" / "manifest.json"), "test", ("dirty",))
    assert ds.noise_rms(0) == pytest.approx(rms)
    assert robust_rms(ds[0]["dirty"].numpy()) == pytest.approx(rms, rel=0.2)     # the noise is in the cube
    image, _ = fitsio.read_cube(run_dir / "deepfocus" / "tclean" / "cube_0000" / "image.fits")
    assert robust_rms(np.nan_to_num(image)) == pytest.approx(rms, rel=0.3)   # tCLEAN's draw: the same level


def test_snakemake_runs_the_configuration_the_tests_load(run, tiny_config):
    """tiny.yaml is an overlay on config/config.yaml, merged the same way by Snakemake and by config.load."""
    import yaml

    effective = yaml.safe_load((run / "config.yaml").read_text())
    assert effective == tiny_config
    assert effective["resolve"]["runs"]["hd142527"]["enabled"] is False   # the demo's run, switched off
    assert effective["cubes"]["noise"] == {"snr": 50}                     # replaced whole, not merged


def test_step_outputs_record_their_parameters(run, tiny_config):
    """Each step records the rule's named params: the sky model's hash is that of its config sections."""
    from workflow_lib import provenance

    _, header = fitsio.read_cube(run / "continuum" / "skymodel.fits")
    expected = {"continuum": tiny_config["continuum"], "observation": tiny_config["observation"]}
    assert header["PARHASH"] == provenance.params_hash(expected)

"""Dataset shards: content, bit-identical rebuilds, corrupt-shard detection, split, PyTorch access."""

import json
import shutil

import h5py
import numpy as np
import pytest
import torch

from workflow_lib import skymodels
from workflow_lib.dataset.manifest import split_indices, verify_shard, write_manifest, write_split
from workflow_lib.dataset.shards import build_shard
from workflow_lib.provenance import file_sha256 as sha256
from workflow_lib.dataset.torch_dataset import CubeDataset
from workflow_lib.simulate.coverage import make_coverage


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from workflow_lib import config
    from conftest import TINY

    cfg = config.load(TINY)
    spec, obs, seed = cfg["dataset"], cfg["observation"], cfg["seed"]
    tmp = tmp_path_factory.mktemp("dataset")
    make_coverage(skymodels.cube_grid(spec, obs), obs, str(tmp / "coverage.h5"))
    shards = [str(tmp / f"shard_{k:04d}.h5") for k in range(2)]
    for k, path in enumerate(shards):
        build_shard(dataset=spec, observation=obs, seed=seed, coverage=str(tmp / "coverage.h5"), index=k, shard=path,
                    checksum=f"{path}.sha256", params={"seed": seed})
    write_split(n_cubes=spec["count"], split=spec["split"], seed=seed, out=str(tmp / "split.json"))
    write_manifest(shards=shards, checksums=[f"{s}.sha256" for s in shards], split=str(tmp / "split.json"),
                   out=str(tmp / "manifest.json"), params={"seed": seed})
    return {"tmp": tmp, "cfg": cfg, "shards": shards}


def test_shard_content_is_physical(built):
    spec = built["cfg"]["dataset"]
    with h5py.File(built["shards"][0], "r") as h5:
        assert h5["dirty"].shape == (4, spec["nchan"], 32, 32)
        assert list(h5["index"][...]) == [0, 1, 2, 3]
        sources = h5["sources"][...]
        for j in range(4):
            cube_sources = sources[sources["cube"] == j]
            low = 0 if spec["sparse_fraction"] > 0 else spec["n_sources"][0]
            assert low <= len(cube_sources) <= spec["n_sources"][1]
            # the model holds exactly the catalogue's flux
            grid = skymodels.cube_grid(spec, built["cfg"]["observation"])
            flux = sum(skymodels.LineSource(**{n: float(r[n]) for n in skymodels.LineSource.__dataclass_fields__})
                       .spectrum(grid.freqs_hz, grid.freqs_hz.mean()).sum() for r in cube_sources)
            assert h5["model"][j].sum() == pytest.approx(flux, rel=1e-3)
            np.testing.assert_allclose(h5["model_integrated"][j], h5["model"][j].sum(axis=0), rtol=1e-4, atol=1e-9)
        # SNR = noise-free dirty peak of the source alone / the cube's noise RMS
        rms = h5["noise_rms"][...]
        np.testing.assert_allclose(sources["snr"] * rms[sources["cube"]], sources["peak_jy_beam"], rtol=1e-5)
        # a bright source appears in the dirty cube at its catalogue position and line channel
        brightest = sources[np.argmax(sources["snr"])]
        j, c = int(brightest["cube"]), int(round(brightest["line_centre_chan"]))
        image = h5["dirty"][j, c]
        y, x = np.unravel_index(np.argmax(image), image.shape)
        assert abs(x - brightest["x_pix"]) <= 2 and abs(y - brightest["y_pix"]) <= 2
        assert h5["psf"][0].max() == pytest.approx(1.0, abs=1e-5)
        assert json.loads(h5.attrs["units"])["dirty"] == "Jy/beam"


def test_shards_are_bit_identical_when_rebuilt(built, tmp_path, caplog):
    """... and say how far they are, one line per cube (until 2026-12-07 that line failed to format)."""
    cfg = built["cfg"]
    again = tmp_path / "shard_0001.h5"
    caplog.set_level("INFO", logger="workflow_lib.dataset.shards")
    build_shard(dataset=cfg["dataset"], observation=cfg["observation"], seed=cfg["seed"],
                coverage=str(built["tmp"] / "coverage.h5"), index=1, shard=str(again), checksum=f"{again}.sha256",
                params={"seed": cfg["seed"]})
    assert sha256(again) == sha256(built["shards"][1])
    progress = [r.getMessage() for r in caplog.records if "cube" in r.msg]
    assert len(progress) == 2 and progress[0].startswith("shard 1: cube 4 (1/2)")


def test_split_is_deterministic_and_complete():
    fractions = {"train": 0.6, "validation": 0.2, "test": 0.2}
    split = split_indices(50, fractions, seed=3)
    assert [len(split[k]) for k in ("train", "validation", "test")] == [30, 10, 10]
    assert sorted(sum(split.values(), [])) == list(range(50))
    assert split == split_indices(50, fractions, seed=3)
    assert split != split_indices(50, fractions, seed=4)


def test_manifest_records_checksums_and_split(built):
    manifest = json.loads((built["tmp"] / "manifest.json").read_text())
    assert manifest["count"] == 6 and [s["count"] for s in manifest["shards"]] == [4, 2]
    assert manifest["shards"][0]["sha256"] == sha256(built["shards"][0])
    assert sorted(sum(manifest["split"].values(), [])) == list(range(6))


def test_corrupt_shard_is_named_and_removed(built, tmp_path):
    bad = tmp_path / "shard_0000.h5"
    shutil.copy(built["shards"][0], bad)
    shutil.copy(built["shards"][0] + ".sha256", str(bad) + ".sha256")
    with open(bad, "r+b") as fh:
        fh.truncate(bad.stat().st_size // 2)
    with pytest.raises(ValueError, match="shard_0000.h5: checksum mismatch"):
        verify_shard(bad, f"{bad}.sha256")
    assert not bad.exists()  # so that the next run rebuilds exactly this shard


def test_torch_dataset_reads_lazily(built):
    data = CubeDataset(built["tmp"] / "manifest.json", "train", fields=("dirty", "model_integrated"))
    assert len(data) == 4  # 60% of 6 cubes, rounded
    item = data[0]
    assert item["dirty"].shape == (16, 32, 32) and item["dirty"].dtype == torch.float32
    with h5py.File(built["shards"][0], "r") as h5:
        where = list(h5["index"][...])
        if item["index"] in where:
            np.testing.assert_array_equal(item["dirty"].numpy(), h5["dirty"][where.index(item["index"])])
    assert set(data.sources(item["index"])["cube"]) == {item["index"]}
    loader = torch.utils.data.DataLoader(data, batch_size=2, num_workers=2)
    batches = list(loader)
    assert sum(len(b["index"]) for b in batches) == 4
    assert data.grid().nchan == 16 and data.shared("pb").shape == (16, 32, 32)
    with pytest.raises(ValueError, match="no split 'training'"):
        CubeDataset(built["tmp"] / "manifest.json", "training")


def test_casa_backend_agrees_with_ducc(built, tmp_path):
    cfg = built["cfg"]
    spec = {**cfg["dataset"], "count": 1, "shard_size": 1, "noise": {"rms_jy_per_beam": 0.0}}
    cubes = {}
    for backend in ("ducc", "casa"):
        path = tmp_path / f"{backend}.h5"
        build_shard(dataset={**spec, "backend": backend}, observation=cfg["observation"], seed=cfg["seed"],
                    coverage=str(built["tmp"] / "coverage.h5"), index=0, shard=str(path), checksum=f"{path}.sha256")
        with h5py.File(path, "r") as h5:
            cubes[backend] = h5["dirty"][0]
    peak = np.abs(cubes["casa"]).max()
    assert np.sqrt(np.mean((cubes["ducc"] - cubes["casa"]) ** 2, axis=(1, 2))).max() < 0.01 * peak


GUARD = 24    # pixels around the tiny dataset's 32-pixel tiles; ring sources keep 7 pixels from the tile


@pytest.fixture(scope="module")
def guarded(built, tmp_path_factory):
    """The tiny dataset's shard 0 again with a guard ring of GUARD pixels, on its own coverage."""
    cfg = built["cfg"]
    spec, obs, seed = {**cfg["dataset"], "guard_pix": GUARD}, cfg["observation"], cfg["seed"]
    tmp = tmp_path_factory.mktemp("guarded")
    make_coverage(skymodels.simulation_grid(spec, obs), obs, str(tmp / "coverage.h5"))
    shard = str(tmp / "shard_0000.h5")
    build_shard(dataset=spec, observation=obs, seed=seed, coverage=str(tmp / "coverage.h5"), index=0, shard=shard,
                checksum=f"{shard}.sha256", params={"seed": seed})
    return {"tmp": tmp, "spec": spec, "shard": shard}


def test_a_guard_ring_keeps_the_tiles_truth_and_adds_only_its_spill_over(built, guarded):
    """The tile's sources, noise and truth are those of the cube without a ring; what the ring adds to the dirty
    tile is the PSF-convolved ring sky (its sources' sidelobes and spill-over), nothing else."""
    from workflow_lib.simulate.coverage import Coverage
    from workflow_lib.simulate.ducc_backend import ChannelImager

    cfg, spec = built["cfg"], guarded["spec"]
    with h5py.File(built["shards"][0], "r") as plain, h5py.File(guarded["shard"], "r") as ring:
        assert ring["dirty"].shape == plain["dirty"].shape and ring["psf"].shape == plain["psf"].shape
        a, b = plain["sources"][...], ring["sources"][...]
        for name in ("cube", "x_pix", "y_pix", "line_flux_jy", "line_centre_chan", "fwhm_major_arcsec"):
            np.testing.assert_array_equal(a[name], b[name])
        np.testing.assert_allclose(a["peak_jy_beam"], b["peak_jy_beam"], rtol=1e-3)
        imager = ChannelImager(Coverage.load(guarded["tmp"] / "coverage.h5"), epsilon=spec["epsilon"])
        added = 0
        for j, index in enumerate(ring["index"][...]):
            sky, sources, every = skymodels.training_cube(spec, cfg["observation"], cfg["seed"], int(index))
            grid = skymodels.simulation_grid(spec, cfg["observation"])
            margin = spec["edge_margin_arcsec"] / grid.cell_arcsec      # ring sources keep it outside the tile
            lo, hi = GUARD - 0.5 - margin, GUARD + 32 - 0.5 + margin
            assert all(not (lo <= s.x_pix < hi and lo <= s.y_pix < hi)
                       for s in every[len(sources):])
            ring_sky = skymodels.render_cube(every[len(sources):], grid)
            added += len(every) - len(sources)
            spill = skymodels.tile_of(ring_sky, GUARD)
            np.testing.assert_allclose(ring["model"][j] - plain["model"][j], spill, atol=1e-6)
            expected = np.stack([skymodels.tile_of(imager.convolve_psf(ring_sky[c] * imager.coverage.pb[c], c), GUARD)
                                 for c in range(grid.nchan)])
            difference = ring["dirty"][j].astype(np.float64) - plain["dirty"][j]
            scale = max(np.abs(expected).max(), 1e-3)
            np.testing.assert_allclose(difference, expected, atol=2e-3 * scale)
        assert added >= 16     # Poisson mean 7.9 per cube (1.5 per tile, a ring of 5.25 tiles' area)


def test_a_guard_ring_needs_an_absolute_noise_level(tmp_path):
    import yaml

    from conftest import raw_tiny
    from workflow_lib import config

    cfg = raw_tiny()
    cfg["dataset"].update(guard_pix=8, noise={"snr": 20})
    path = tmp_path / "snr.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(config.ConfigError, match="guard_pix=8 needs dataset.noise.rms_jy_per_beam"):
        config.load(path)


def test_tclean_of_a_guarded_test_cube_reproduces_its_dirty_tile(built, guarded, tmp_path):
    """tCLEAN (niter 0) of the re-made guarded visibilities, cut to the tile, is the shard's dirty tile (to
    tclean's gridding accuracy: at most 2.9e-3 of the peak on this 32-pixel tile without a ring, 1.4e-3 with
    it; the ring's sidelobes alone are far larger)."""
    from workflow_lib import fitsio
    from workflow_lib.deepfocus.evaluation.tclean import tclean_cube
    from workflow_lib.simulate.coverage import dataset_template_ms

    cfg, spec, tmp = built["cfg"], guarded["spec"], guarded["tmp"]
    split = json.loads((built["tmp"] / "split.json").read_text())
    index = next(i for i in split["test"] if i < 4)          # a test cube of shard 0
    shutil.copy(built["tmp"] / "split.json", tmp / "split.json")
    write_manifest(shards=[guarded["shard"]], checksums=[guarded["shard"] + ".sha256"], split=str(tmp / "split.json"),
                   out=str(tmp / "manifest.json"), params={"seed": cfg["seed"]})
    dataset_template_ms(dataset=spec, observation=cfg["observation"], out=str(tmp_path / "template.ms"))
    kw = dict(manifest=str(tmp / "manifest.json"), coverage=str(tmp / "coverage.h5"),
              template_ms=str(tmp_path / "template.ms"), index=index, observation=cfg["observation"],
              method={"deconvolver": "hogbom", "weighting": "natural"}, niter=0, image=str(tmp_path / "image.fits"),
              model=str(tmp_path / "model.fits"), timing=str(tmp_path / "timing.json"))
    tclean_cube(dataset=spec, seed=cfg["seed"], **kw)
    image, header = fitsio.read_cube(tmp_path / "image.fits")
    grid = skymodels.cube_grid(spec, cfg["observation"])
    assert fitsio.Grid.from_header(header).matches(grid)
    with h5py.File(guarded["shard"], "r") as h5:
        dirty = h5["dirty"][list(h5["index"][...]).index(index)]
    np.testing.assert_allclose(image, dirty, atol=3e-3 * np.abs(dirty).max())
    assert np.sqrt(np.mean((image - dirty) ** 2)) < 3e-4 * np.abs(dirty).max()
    with pytest.raises(ValueError, match=f"test cube {index} is not the one this config simulates"):
        tclean_cube(dataset=spec, seed=cfg["seed"] + 1, **kw)

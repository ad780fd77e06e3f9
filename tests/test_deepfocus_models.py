"""DeepFocus networks: forward passes, one training step each, target encodings, checkpoints and resumable training."""

import logging

import numpy as np
import pytest
import torch

from workflow_lib.deepfocus import blobsfinder, deepgru, resnets, train
from workflow_lib.deepfocus.settings import training_files


def _one_step(model, loss_fn, x, y):
    """One Adam step; returns (loss before, loss after on the same batch, max parameter change)."""
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    loss = loss_fn(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    change = max(float((p.detach() - b).abs().max()) for p, b in zip(model.parameters(), before))
    with torch.no_grad():
        after = loss_fn(model(x), y)
    return float(loss.detach()), float(after), change


@pytest.mark.parametrize("skips", [True, False])
def test_blobsfinder_forward_and_one_training_step(skips):
    torch.manual_seed(0)
    model = blobsfinder.BlobsFinder(size=32, channels=(4, 8), latent=16, skips=skips)
    x = torch.randn(4, blobsfinder.IN_CHANNELS, 32, 32)
    y = (torch.rand(4, 1, 32, 32) > 0.8).float()
    assert model(x).shape == (4, 1, 32, 32)
    before, after, change = _one_step(model, blobsfinder.loss, x, y)
    assert np.isfinite(before) and change > 0 and after < before
    with pytest.raises(ValueError, match="multiple of 4"):
        blobsfinder.BlobsFinder(size=30, channels=(4, 8))


def test_blobsfinder_augmentation_moves_input_and_target_together():
    x = torch.zeros(1, 2, 8, 8)
    x[0, :, 1, 2] = 1.0
    gen = torch.Generator().manual_seed(5)
    for _ in range(8):
        ax, ay = blobsfinder.augment(x, x[:, :1].clone(), gen)
        assert torch.equal(ax[:, :1], ay) and ax.sum() == 2


def test_deepgru_forward_and_one_training_step():
    torch.manual_seed(0)
    model = deepgru.DeepGRU(hidden=8)
    spectra = np.random.default_rng(0).normal(size=(6, 40))
    x = deepgru.inputs(spectra)
    assert x.shape == (6, 40, 2)
    y = torch.zeros(6, 40, 1)
    y[:, 15:20] = 1.0
    assert model(x).shape == (6, 40, 1)
    before, after, change = _one_step(model, deepgru.loss, x, y)
    assert change > 0 and after < before
    prob = deepgru.probability(model, spectra, "cpu")
    assert prob.shape == (6, 40) and ((prob > 0) & (prob < 1)).all()


@pytest.mark.parametrize("target", resnets.TARGETS)
def test_resnet_forward_and_one_training_step(target):
    torch.manual_seed(0)
    model = resnets.ResNet(resnets.OUTPUTS[target], widths=(4, 8), blocks=(1, 1), head=8)
    rng = np.random.default_rng(1)
    x, scales = resnets.inputs(rng.normal(size=(5, 16, 16)))
    truth = {"fwhm_major": rng.uniform(2, 8, 5), "fwhm_minor": rng.uniform(1, 4, 5), "pa": rng.uniform(0, 180, 5),
             "flux": rng.uniform(0.1, 2, 5)}
    y = resnets.encode(target, truth, scales)
    assert model(x).shape == y.shape == (5, resnets.OUTPUTS[target])
    before, after, change = _one_step(model, resnets.loss, x, y)
    assert change > 0 and after < before


def test_target_encodings_round_trip():
    pa = np.array([0.0, 10.0, 89.0, 91.0, 179.5])
    scales = np.array([0.5, 1.0, 2.0, 3.0, 4.0])
    truth = {"pa": pa, "flux": np.array([1.0, 2.0, 3.0, 4.0, 5.0]), "fwhm_major": pa, "fwhm_minor": pa}
    for name in resnets.TARGETS:
        back = resnets.decode(name, resnets.encode(name, truth, scales).numpy(), scales)
        np.testing.assert_allclose(back, truth[name], rtol=1e-5, atol=1e-3)
    # 179.5 and 0.5 deg are the same axis: one degree apart in the encoding, not 179
    a, b = (resnets.encode("pa", {"pa": np.array([v])}, scales[:1]).numpy() for v in (179.5, 0.5))
    assert np.hypot(*(a - b)[0]) < 0.04
    assert resnets.crop_scale(np.zeros((4, 4))) == 1.0


def test_checkpoint_round_trip_and_wrong_architecture(tmp_path):
    model = deepgru.DeepGRU(hidden=4)
    train.save_model(tmp_path / "gru.pt", model, extra={"beam": [1, 2, 3]})
    back, extra = train.load_model(tmp_path / "gru.pt", deepgru.DeepGRU)
    assert extra == {"beam": [1, 2, 3]}
    for a, b in zip(model.state_dict().values(), back.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match=r"gru\.pt: checkpoint holds a DeepGRU, expected a BlobsFinder"):
        train.load_model(tmp_path / "gru.pt", blobsfinder.BlobsFinder)
    ckpt = torch.load(tmp_path / "gru.pt", weights_only=False)
    ckpt["config"]["hidden"] = 5
    torch.save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="weights do not fit a DeepGRU"):
        train.load_model(tmp_path / "bad.pt", deepgru.DeepGRU)
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        train.load_model(tmp_path / "junk.pt", deepgru.DeepGRU)


def _tiny_stages():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(24, 12, 2, generator=g)
    y = (x[..., :1] > 0.5).float()
    return [train.Stage("true", (x[:16], y[:16]), (x[16:], y[16:]), 3, 1e-2),
            train.Stage("predicted", (x[:16], y[:16]), (x[16:], y[16:]), 2, 1e-3)]


SETTINGS = {"batch_size": 4, "patience": 5, "weight_decay": 1e-5}


class Killed(RuntimeError):
    pass


def test_training_resumes_where_it_stopped_with_the_same_result(tmp_path, caplog):
    """A run killed in its fourth epoch resumes from resume.pt and ends with the uninterrupted run's weights."""
    stages = _tiny_stages()
    whole = deepgru.DeepGRU(hidden=4)
    history = train.fit(whole, deepgru.loss, stages, SETTINGS, training_files(tmp_path / "whole"), "gru", seed=3)
    assert [(r["stage"], r["epoch"]) for r in history] == [("true", 1), ("true", 2), ("true", 3),
                                                           ("predicted", 1), ("predicted", 2)]
    assert (tmp_path / "whole" / "loss.png").stat().st_size > 1000
    assert (tmp_path / "whole" / "history.csv").read_text().count("\n") == 6
    assert not (tmp_path / "whole" / "resume.pt").exists()

    calls = {"n": 0}

    def dying_loss(logits, target):
        calls["n"] += 1
        if calls["n"] == 3 * 6 + 2:  # 4 training batches + 2 validation batches per epoch: dies in epoch 4
            raise Killed
        return deepgru.loss(logits, target)

    with pytest.raises(Killed):
        train.fit(deepgru.DeepGRU(hidden=4), dying_loss, stages, SETTINGS, training_files(tmp_path / "again"), "gru",
                  seed=3)
    assert (tmp_path / "again" / "resume.pt").exists() and not (tmp_path / "again" / "model.pt").exists()
    resumed = deepgru.DeepGRU(hidden=4)
    with caplog.at_level(logging.INFO):
        history = train.fit(resumed, deepgru.loss, stages, SETTINGS, training_files(tmp_path / "again"), "gru",
                            seed=3)
    assert "resuming stage 0 after epoch 3" in caplog.text
    assert len(history) == 5
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_checkpoint_of_other_parameters_is_ignored(tmp_path, caplog):
    stages = _tiny_stages()
    train.fit(deepgru.DeepGRU(hidden=4), deepgru.loss, stages, SETTINGS, training_files(tmp_path), "gru", seed=3)
    stale = {"fingerprint": "something else", "stage": 1, "epoch": 1}
    torch.save(stale, tmp_path / "resume.pt")
    with caplog.at_level(logging.INFO):
        train.fit(deepgru.DeepGRU(hidden=4), deepgru.loss, stages, SETTINGS, training_files(tmp_path), "gru", seed=3)
    assert "made with other parameters or data: starting afresh" in caplog.text


def test_seed_makes_training_reproducible(tmp_path):
    stages = _tiny_stages()[:1]
    runs = []
    for k, seed in enumerate((1, 1, 2)):
        model = deepgru.DeepGRU(hidden=4)
        train.fit(model, deepgru.loss, stages, SETTINGS, training_files(tmp_path / str(k)), "gru", seed=seed)
        runs.append(torch.cat([p.flatten() for p in model.parameters()]))
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])

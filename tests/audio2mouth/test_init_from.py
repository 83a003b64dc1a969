"""Fine-tuning: a run starts from another run's networks (``init_from=``, audio2mouth/init_from.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from audio2mouth.bundle import build_net, load_bundle
from audio2mouth.init_from import load_initial_weights
from audio2mouth.pretrain import _half_time, first_pass_config, second_pass_config
from audio2mouth.train import train
from landmarks.errors import LipsyncError
from tests.audio2mouth.conftest import write_fake_cache


def test_a_run_starts_from_the_given_networks(fake_cache: Path, tmp_path: Path, shrunk):
    first = tmp_path / "first"
    train(shrunk("tcn", fake_cache, first, ["seed=3"]))
    kept = load_bundle(first).net.state_dict()
    # Fine-tuning at learning rate 0 must keep the first run's networks exactly.
    second = tmp_path / "second"
    frozen = ["model.optimizer.lr=0.0", "model.optimizer.weight_decay=0.0"]
    results = train(shrunk("tcn", fake_cache, second, [f"init_from={first}", "seed=4", *frozen]))
    assert results["init_from"] == str(first)
    assert json.loads((second / "results.json").read_text())["init_from"] == str(first)
    again = load_bundle(second).net.state_dict()
    assert all(torch.equal(kept[k], again[k]) for k in kept)
    # Without init_from, another seed gives other networks: the check above is not trivially true.
    fresh = tmp_path / "fresh"
    train(shrunk("tcn", fake_cache, fresh, ["seed=4", *frozen]))
    other = load_bundle(fresh).net.state_dict()
    assert any(not torch.equal(kept[k], other[k]) for k in kept)


def test_other_networks_or_another_lip_space_are_refused(fake_cache: Path, tmp_path: Path, shrunk):
    run = tmp_path / "run"
    train(shrunk("tcn", fake_cache, run))
    bundle = load_bundle(run)
    speaker, net = bundle.speaker, bundle.net
    wider = build_net(shrunk("tcn", fake_cache, tmp_path / "x", ["model.net.channels=12"]).model.net,
                      int(speaker.feature_norm.mean.shape[0]), speaker.pca.n_components, ensemble=3)
    with pytest.raises(LipsyncError, match="differ from this run's"):
        load_initial_weights(wider, run, speaker)
    # A run on another clip predicts other coefficients: refused before any weight is copied.
    other_cache = write_fake_cache(tmp_path / "caches" / "other-0002", seconds=30.0, seed=5)
    other = tmp_path / "other"
    train(shrunk("tcn", other_cache, other))
    with pytest.raises(LipsyncError, match="another lip space"):
        load_initial_weights(net, other, speaker)
    with pytest.raises(LipsyncError, match="no audio2mouth weights"):
        load_initial_weights(net, tmp_path / "nothing", speaker)


def test_pretraining_runs_a_first_pass_with_the_other_clips_then_fine_tunes(tmp_path: Path, shrunk, capsys):
    # another anchor: its own voice, its own face (reference) in its own canonical frame
    rng = np.random.default_rng(4)
    main = write_fake_cache(tmp_path / "caches" / "main-0004", seconds=30.0, seed=2,
                            reference=rng.normal(0, 1, (68, 2)))
    other = write_fake_cache(tmp_path / "caches" / "other-0003", seconds=20.0, seed=7,
                             reference=rng.normal(0, 1, (68, 2)))
    run = tmp_path / "run"
    cfg = shrunk("tcn", main, run, [f"pretrain_caches=[{other}]", "trainer.max_time=00:00:10:00"])
    results = train(cfg)
    first = json.loads((run / "pretrain" / "results.json").read_text())
    assert first["extra_caches"] == [str(other)] and first["init_from"] is None
    assert first["weights"] == "last" and first["best_val"] is None  # a fixed schedule, no early stop
    assert results["init_from"] == str(run / "pretrain") and results["extra_caches"] == []
    saved = json.loads((run / "results.json").read_text())
    assert saved["pretrain"]["caches"] == [str(other)]
    assert saved["pretrain"]["test"] == first["test"]
    assert all(np.isfinite(v) for v in [*first["test"].values(), *saved["test"].values()])
    load_bundle(run)  # the shipped model is the second pass's
    # A re-run reuses the finished first pass instead of training it again.
    capsys.readouterr()
    train(cfg)
    assert "reusing the pretraining pass" in capsys.readouterr().out
    with pytest.raises(LipsyncError, match="use one of them"):
        train(shrunk("tcn", main, tmp_path / "both", [f"pretrain_caches=[{other}]", f"init_from={run}"]))


def test_the_time_limit_is_shared_between_the_passes():
    assert _half_time("00:00:10:00") == "00:00:05:00"
    assert _half_time("01:00:00:01") == "00:12:00:00"
    assert _half_time(None) is None


def test_the_fine_tuning_pass_runs_at_the_scaled_learning_rate(fake_cache: Path, tmp_path: Path, shrunk):
    cfg = shrunk("tcn", fake_cache, tmp_path / "run", [f"pretrain_caches=[{fake_cache}]", "finetune_lr_scale=0.3"])
    first = first_pass_config(cfg)
    second = second_pass_config(cfg, tmp_path / "run" / "pretrain")
    assert first.model.optimizer.lr == cfg.model.optimizer.lr  # the first pass trains as configured
    assert second.model.optimizer.lr == pytest.approx(0.3 * cfg.model.optimizer.lr)
    assert second.init_from == str(tmp_path / "run" / "pretrain") and not second.pretrain_caches
    with pytest.raises(LipsyncError, match="finetune_lr_scale must be > 0"):
        train(shrunk("tcn", fake_cache, tmp_path / "zero", [f"pretrain_caches=[{fake_cache}]", "finetune_lr_scale=0"]))

"""Ensembles: the mean of independently trained members, saved and loaded as one model."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from audio2mouth.bundle import load_bundle
from audio2mouth.components import Ensemble, TCNGenerator, members_of
from audio2mouth.inference import run_net
from audio2mouth.module import Audio2MouthModule
from audio2mouth.train import train


def tcn_factory(in_features: int, out_features: int) -> TCNGenerator:
    return TCNGenerator(in_features, out_features, channels=8, dilations=(1, 2), dropout=0.0)


def test_forward_is_the_members_mean_and_one_member_is_bare():
    torch.manual_seed(0)
    net = Ensemble.build(tcn_factory, 3, in_features=5, out_features=4)
    x = torch.randn(2, 40, 5)
    expected = sum(m(x) for m in net.members) / 3
    assert torch.allclose(net(x), expected, atol=1e-6)
    assert isinstance(Ensemble.build(tcn_factory, 1, in_features=5, out_features=4), TCNGenerator)


def test_each_member_gets_the_gradient_it_would_get_alone():
    torch.manual_seed(0)
    opt = torch.optim.AdamW
    pair = Audio2MouthModule(tcn_factory, opt, n_features=5, n_coeffs=4, ensemble=2, input_noise=0.0)
    alone = Audio2MouthModule(tcn_factory, opt, n_features=5, n_coeffs=4, input_noise=0.0)
    alone.net = copy.deepcopy(members_of(pair.net)[1])
    batch = {"features": torch.randn(3, 30, 5), "targets": torch.randn(3, 30, 4),
             "mask": torch.ones(3, 30, dtype=torch.bool)}
    pair.log = alone.log = lambda *a, **k: None  # no trainer attached
    pair.training_step(batch, 0).backward()
    alone.training_step(batch, 0).backward()
    for a, b in zip(members_of(pair.net)[1].parameters(), alone.net.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-6)
    # the members start from different weights, so they are not copies of one another
    first, second = (next(m.parameters()) for m in members_of(pair.net))
    assert not torch.allclose(first, second)


def test_an_ensemble_run_saves_and_loads_as_one_model(fake_cache: Path, tmp_path: Path, compose_train):
    cfg = compose_train([f"speaker={fake_cache.name.split('-')[0]}", f"paths.cache_dir={fake_cache.parent}",
                         "model=adv_tcn", "model.net.channels=8", "model.net.dilations=[1,2]",
                         "model.discriminator.channels=8", "model.discriminator.dilations=[1,2]",
                         "data.batch_size=4", "+trainer.fast_dev_run=true", "ensemble=3", "weights=average",
                         "average_from=0.0"], tmp_path)
    results = train(cfg)
    assert all(np.isfinite(v) for v in results["test"].values())
    run = load_bundle(tmp_path)
    assert isinstance(run.net, Ensemble) and len(run.net.members) == 3
    features = np.random.default_rng(0).standard_normal((50, run.speaker.feature_norm.mean.shape[0]))
    x = torch.from_numpy(run.speaker.feature_norm.apply(features.astype(np.float32)))[None]
    with torch.inference_mode():
        members = torch.stack([m(x) for m in run.net.members])
    assert members.std(0).mean() > 0  # three different members
    expected = run.speaker.outputs_to_coeffs(members.mean(0)[0].numpy())  # the mean, then the output gains
    assert np.allclose(run_net(run, features.astype(np.float32)), expected, atol=1e-5)

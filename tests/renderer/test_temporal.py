"""The temporal discriminator: consecutive pairs in the data, and a loss that reaches the generator."""

from __future__ import annotations

import numpy as np
import torch

from renderer.datamodule import RendererDataModule, previous_positions
from renderer.train import build

from .test_train import CPU, TINY


def test_previous_positions_point_at_the_frame_before_or_at_itself():
    # frames 3, 4, 5 are consecutive; 8 follows a gap (its predecessor is not a training frame)
    assert previous_positions(np.array([3, 4, 5, 8, 9])).tolist() == [0, 0, 1, 3, 3]


def test_training_pairs_carry_their_previous_frame(fake_cache):
    cache = fake_cache(size=64, n_frames=40, invalid=(10,))
    dm = RendererDataModule(str(cache), crop_size=64, batch_size=40, previous_frame=True, gap_s=0)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    index, prev = batch["index"], batch["prev_index"]
    consecutive = prev == index - 1
    # every frame whose predecessor is a training frame is paired with it, the others with themselves
    assert consecutive.sum() >= len(index) - 2
    assert torch.equal(prev[~consecutive], index[~consecutive])
    assert 11 not in index[consecutive].tolist()  # frame 10 is invalid, so 11 has no predecessor
    assert batch["prev_crop"].shape == batch["crop"].shape
    # held-out pairs are scored one by one and carry no previous frame
    assert "prev_crop" not in next(iter(dm.val_dataloader()))


def test_the_temporal_loss_alone_trains_both_networks(fake_cache, compose_cfg):
    cache = fake_cache(size=64, n_frames=30)
    cfg = compose_cfg([
        "render_model=unet_temporal", f"render_data.cache={cache}", "render_data.batch_size=4",
        "render_data.gap_s=0", "crop_size=64", "render_model.generator.crop_size=64",
        # every other loss off: whatever moves the generator comes from the temporal discriminator
        "render_model.module.lambda_gan=0", "render_model.module.lambda_l1=0", "render_model.module.lambda_fm=0",
        "render_model.temporal_discriminator.ndf=4", "render_model.temporal_discriminator.n_layers=2",
        *TINY, *CPU,
    ])
    datamodule, module, _ = build(cfg)
    assert module.temporal_discriminator is not None
    batch = next(iter(datamodule.train_dataloader()))
    g_before = [p.detach().clone() for p in module.generator.parameters()]
    t_before = [p.detach().clone() for p in module.temporal_discriminator.parameters()]
    optimizers = [o(params=ps) for o, ps in (
        (module.hparams.optimizer_g, module.generator.parameters()),
        (module.hparams.optimizer_d, [*module.discriminator.parameters(),
                                      *module.temporal_discriminator.parameters()]),
    )]
    # a training step outside a Trainer: optimizers and backward wired by hand
    module.optimizers = lambda: optimizers
    module.manual_backward = lambda loss: loss.backward()
    module.toggle_optimizer = module.untoggle_optimizer = lambda opt: None
    module.log_dict = module.log = lambda *a, **k: None
    module.training_step(batch, 0)
    moved = lambda before, net: any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))  # noqa: E731
    assert moved(t_before, module.temporal_discriminator)
    assert moved(g_before, module.generator)

"""Data module, fast_dev_run of every config, CLI errors, and a short learning run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from landmarks.errors import LipsyncError
from renderer.datamodule import RendererDataModule, time_split
from renderer.inference import load_renderer
from renderer.preview import preview
from renderer.reference_bank import ReferenceBank, lip_descriptors
from renderer.train import build, train

TINY = [
    "render_model.generator.ngf=4",
    "render_model.generator.max_channels=16",
    "render_model.discriminator.ndf=4",
    "render_data.num_workers=0",
    "speaker=fake",
]
CPU = ["trainer.accelerator=cpu", "trainer.devices=1", "trainer.precision=32-true"]


def test_time_split_holds_out_the_end_with_a_gap():
    t = np.arange(100) / 25.0
    valid = np.ones(100, bool)
    valid[[3, 90]] = False
    train_idx, val_idx = time_split(t, valid, val_fraction=0.2, gap_s=0.4)
    assert train_idx.max() < val_idx.min()
    assert t[val_idx.min()] - t[train_idx.max()] >= 0.4
    assert 3 not in train_idx and 90 not in val_idx
    assert len(val_idx) == 19  # frames 80..99 minus the invalid one
    with pytest.raises(LipsyncError):
        time_split(t, valid, val_fraction=1.5, gap_s=0)


def test_datamodule_items_and_crop_size_check(fake_cache):
    cache = fake_cache(size=64, n_frames=50, invalid=(5,))
    dm = RendererDataModule(str(cache), crop_size=64, batch_size=4)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["face_map"].shape == (4, 3, 64, 64) and batch["face_map"].dtype == torch.uint8
    assert batch["crop"].shape == (4, 3, 64, 64)
    assert batch["lower_mask"].shape == (4, 1, 64, 64) and batch["mouth_mask"].max() == 1
    # The lips are inside the lower face, and small.
    assert torch.all(batch["lower_mask"] >= batch["mouth_mask"])
    assert batch["mouth_mask"].float().mean() < 0.1
    assert 5 not in dm.train_set.indices
    with pytest.raises(LipsyncError, match="64 px crops"):
        RendererDataModule(str(cache), crop_size=128).setup("fit")
    with pytest.raises(LipsyncError, match="no speaker cache"):
        RendererDataModule(str(cache.parent / "nothing-*"), crop_size=64).setup("fit")


@pytest.mark.parametrize(
    ("setup", "size", "use_reference", "extra"),
    [
        ("cpu_128", 128, True, []),
        ("cpu_128", 128, True, ["render_model=unet_local"]),
        ("cpu_128", 128, True, ["render_model=unet_temporal"]),
        ("cpu_fast", 128, True, []),
        ("cpu_128", 128, True, ["render_model.module.weight_average=0.99", "render_model.module.lambda_ssim=10",
                                 "render_model.module.lambda_grad=30"]),
        ("cpu_128", 128, False, ["render_box=face", "mouth_reference=false"]),
        ("gpu_256", 256, True, []),
        ("gpu_512", 512, False, []),
    ],
)
def test_fast_dev_run_each_config(fake_cache, compose_cfg, setup, size, use_reference, extra):
    cache = fake_cache(size=size, n_frames=30 if size < 512 else 16)
    cfg = compose_cfg(
        [
            f"render_setup={setup}",
            f"render_data.cache={cache}",
            f"use_reference={use_reference}",
            "+trainer.fast_dev_run=true",
            "render_data.batch_size=2",
            "render_data.gap_s=0",
            *TINY,
            *CPU,
            *extra,
        ]
    )
    assert cfg.crop_size == size
    metrics = train(cfg)
    assert np.isfinite(metrics["train/loss_g"]) and np.isfinite(metrics["val/psnr"])
    run = Path(cfg.paths.output_dir)
    assert list((run / "val_grids").glob("*.png"))
    renderer = load_renderer(run, crop_size=size)
    assert renderer.use_reference == use_reference
    whole_crop = "render_box=face" in extra
    assert renderer.box.is_whole_crop == whole_crop and (renderer.bank is None) == whole_crop
    assert yaml.safe_load((run / "renderer.yaml").read_text())["face_map"]["size"] == size


def test_render_size_decouples_the_network_from_the_cache_crop(fake_cache, compose_cfg):
    """A 128 px cache rendered at 192 px: a 6-level U-Net down to 3x3, maps and crops at 192."""
    cache = fake_cache(size=128, n_frames=30)
    overrides = [f"render_data.cache={cache}", "+trainer.fast_dev_run=true", "render_data.batch_size=2",
                 "render_data.gap_s=0", *TINY, *CPU]
    cfg = compose_cfg([*overrides, "render_size=192", "detail_transfer=1.5", "detail_neighbours=3"])
    metrics = train(cfg)
    assert np.isfinite(metrics["val/psnr"])
    renderer = load_renderer(cfg.paths.output_dir, crop_size=128)
    assert renderer.box.size == 192 and renderer.bank.crops.shape[1:] == (192, 192, 3)
    assert renderer.generator.crop_size == 192
    maps, masks = np.zeros((1, 192, 192, 3), np.uint8), np.zeros((1, 192, 192), np.uint8)
    assert renderer.detail_transfer == 1.5 and renderer.detail_neighbours == 3  # exported with its settings
    out = renderer.render(maps, maps, masks, maps, maps)
    assert out.shape == (1, 192, 192, 3)
    with pytest.raises(LipsyncError, match="detail_refs"):
        renderer.render(maps, maps, masks, maps)
    # the detail comes from the mean of the 3 bank crops nearest each target's lips, warped onto it
    targets = renderer.bank.landmarks[[0, 4]] + 1.5
    inputs, detail = renderer.mouth_references(np.array([2, 2]), targets)
    np.testing.assert_array_equal(inputs, renderer.bank.crops[[2, 2]])
    near = renderer.bank.nearest_k(lip_descriptors(targets, 192), 3)
    np.testing.assert_array_equal(detail, renderer.bank.mean_references(near, targets))
    assert load_renderer(cfg.paths.output_dir, crop_size=128, detail_transfer=0).detail_transfer == 0
    with pytest.raises(LipsyncError, match=">= 0"):
        load_renderer(cfg.paths.output_dir, crop_size=128, detail_transfer=-0.5)
    assert load_renderer(cfg.paths.output_dir, crop_size=128, detail_neighbours=1).detail_neighbours == 1
    with pytest.raises(LipsyncError, match="whole number >= 1"):
        load_renderer(cfg.paths.output_dir, crop_size=128, detail_neighbours=0)
    for bad_gain, bad_k in (("abc", "abc"), (float("nan"), 2.5)):  # typed on the command line: one-line errors
        with pytest.raises(LipsyncError, match="a number >= 0"):
            load_renderer(cfg.paths.output_dir, crop_size=128, detail_transfer=bad_gain)
        with pytest.raises(LipsyncError, match="whole number >= 1"):
            load_renderer(cfg.paths.output_dir, crop_size=128, detail_neighbours=bad_k)
    # a bank saved before banks kept landmarks has nothing to warp the detail with: refused, unless turned off
    bank = ReferenceBank.load(cfg.paths.output_dir)
    ReferenceBank(bank.crops, bank.descriptors, bank.times).save(cfg.paths.output_dir)
    with pytest.raises(LipsyncError, match="detail_transfer: 0"):
        load_renderer(cfg.paths.output_dir, crop_size=128)
    assert load_renderer(cfg.paths.output_dir, crop_size=128, detail_transfer=0).bank.landmarks is None
    # without a bank there is no detail to take: exported off
    assert build(compose_cfg([*overrides, "mouth_reference=false", "detail_transfer=1.5"]))[2]["detail_transfer"] == 0
    with pytest.raises(LipsyncError, match=">= 0"):
        build(compose_cfg([*overrides, "detail_transfer=-1"]))
    with pytest.raises(LipsyncError, match="multiple of 32"):
        build(compose_cfg([*overrides, "render_size=100"]))
    with pytest.raises(LipsyncError, match="render_box=lower"):
        build(compose_cfg([*overrides, "render_size=192", "render_box=face", "mouth_reference=false"]))
    with pytest.raises(LipsyncError, match="mouth_reference=true"):
        build(compose_cfg([*overrides, "mouth_reference=false", "render_model.generator.residual=true"]))


def test_a_warping_residual_renderer_trains_exports_and_previews(fake_cache, compose_cfg, tmp_path):
    cache = fake_cache(size=128, n_frames=60)
    cfg = compose_cfg([f"render_data.cache={cache}", "+trainer.fast_dev_run=true", "render_data.batch_size=2",
                       "render_data.gap_s=0", "render_data.bank_size=16", "warp_reference=true",
                       "render_model.generator.residual=true", *TINY, *CPU])
    train(cfg)
    run = cfg.paths.output_dir
    renderer = load_renderer(run, crop_size=128)
    assert renderer.warp_reference and renderer.bank.landmarks.shape == (16, 68, 2)
    report = preview(str(run), str(cache), str(tmp_path / "preview"), start_s=1.6, n_png=1)
    assert report["frames"] == 20 and np.isfinite(report["psnr_box_db"])
    # the same weights with a bank saved before banks kept landmarks cannot warp: refused on load
    bank = ReferenceBank.load(run)
    ReferenceBank(bank.crops, bank.descriptors, bank.times).save(run)
    with pytest.raises(LipsyncError, match="no landmarks"):
        load_renderer(run, crop_size=128)


def test_gpu_configs_compose_with_ddp(compose_cfg):
    cfg = compose_cfg(["render_setup=gpu_256", "trainer=ddp", "speaker=x"])
    # DDP told to expect parameters without gradients: each GAN step leaves the other network's out.
    assert cfg.trainer.strategy._target_.endswith("DDPStrategy") and cfg.trainer.strategy.find_unused_parameters
    assert cfg.trainer.precision == "bf16-mixed"
    assert cfg.crop_size == 256 and cfg.render_model.generator.crop_size == 256
    cfg = compose_cfg(["speaker=x"])
    assert cfg.crop_size == 128 and cfg.trainer.accelerator == "cpu"
    assert cfg.callbacks.checkpoint.monitor == "val/psnr"


def test_config_size_must_match_the_cache(fake_cache, compose_cfg):
    cache = fake_cache(size=64, n_frames=20)
    cfg = compose_cfg([f"render_data.cache={cache}", *TINY])  # default config is 128 px
    with pytest.raises(LipsyncError, match="expects 128 px"):
        build(cfg)


def test_cli_reports_a_missing_cache_in_one_line(tmp_path: Path):
    exe = Path(sys.executable).with_name("renderer-train")
    proc = subprocess.run(
        [
            str(exe),
            f"render_data.cache={tmp_path}/none-*",
            "speaker=none",
            f"hydra.run.dir={tmp_path}/run",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HYDRA_FULL_ERROR": "0"},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: no speaker cache")
    assert "Traceback" not in proc.stderr


def _sample_cache() -> Path | None:
    """The prepared synthetic sample (``lipsync-sample`` + prepare), wherever the cache dir is."""
    repo = Path(__file__).resolve().parents[2]
    roots = [Path(os.environ["LIPSYNC_CACHE_DIR"])] if "LIPSYNC_CACHE_DIR" in os.environ else []
    for root in [*roots, repo / "cache", repo.parent / "cache"]:
        found = sorted(root.glob("sample-*/meta.json"))
        if found:
            return found[-1].parent
    return None


@pytest.mark.slow
def test_learning_raises_held_out_psnr(fake_cache, compose_cfg):
    """A short CPU training lifts held-out PSNR clearly above the untrained generator's.

    Uses the prepared synthetic sample cache when it exists (its first 100
    frames: 4 s, the last 20 % held out), else this folder's synthetic face at 64 px.
    """
    import pytorch_lightning as pl

    sample = _sample_cache()
    if sample is not None:
        size = int(yaml.safe_load((sample / "meta.json").read_text())["crop_size"])
        data = [f"render_data.cache={sample}", f"crop_size={size}", "render_data.max_frames=100"]
    else:
        data = [f"render_data.cache={fake_cache(size=64, n_frames=200)}", "crop_size=64"]
    cfg = compose_cfg(
        [
            *data,
            "speaker=sample",
            "render_model.generator.ngf=16",
            "render_model.generator.max_channels=64",
            "render_model.discriminator.ndf=16",
            "trainer.max_epochs=6",
            "trainer.check_val_every_n_epoch=3",
            *CPU,
        ]
    )
    datamodule, module, _ = build(cfg)
    pl.seed_everything(int(cfg.seed))
    untrained = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    before = untrained.validate(module, datamodule=datamodule, verbose=False)[0]["val/psnr"]
    after = train(cfg)["best/val_psnr"]
    assert after > before + 6.0, f"held-out PSNR {before:.1f} -> {after:.1f} dB"

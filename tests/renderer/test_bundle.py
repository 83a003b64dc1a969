"""Loading a trained renderer: round trip, and refusal of mismatched or broken checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from landmarks.errors import LipsyncError
from renderer.bundle import CONFIG, WEIGHTS, save_renderer
from renderer.components import UNetGenerator
from renderer.inference import load_renderer

SIZE = 64


def generator_cfg(use_reference: bool, ngf: int = 8) -> dict:
    return {
        "_target_": "renderer.components.UNetGenerator",
        "in_channels": 6 if use_reference else 3,
        "crop_size": SIZE,
        "ngf": ngf,
        "max_channels": 32,
        "norm": "batch",
    }


def saved(tmp_path: Path, use_reference: bool = False) -> tuple[Path, UNetGenerator]:
    torch.manual_seed(0)
    cfg = generator_cfg(use_reference)
    gen = UNetGenerator(**{k: v for k, v in cfg.items() if k != "_target_"})
    # Non-trivial BatchNorm statistics, so a forgotten buffer would show.
    gen.train()
    with torch.no_grad():
        gen(torch.randn(4, cfg["in_channels"], SIZE, SIZE))
    gen.eval()
    run = tmp_path / "run"
    save_renderer(
        run,
        gen,
        {
            "crop_size": SIZE,
            "use_reference": use_reference,
            "generator": cfg,
            "face_map": {"size": SIZE},
        },
    )
    return run, gen


def test_round_trip_renders_like_the_trained_generator(tmp_path: Path):
    run, gen = saved(tmp_path)
    renderer = load_renderer(run, crop_size=SIZE)
    maps = np.random.default_rng(0).integers(0, 256, (5, SIZE, SIZE, 3), dtype=np.uint8)
    out = renderer.render(maps)
    assert out.shape == (5, SIZE, SIZE, 3) and out.dtype == np.uint8
    with torch.no_grad():
        x = torch.from_numpy(maps).permute(0, 3, 1, 2).float() / 127.5 - 1
        ref = ((gen(x).clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    assert np.abs(out.astype(int) - ref).max() <= 1
    assert yaml.safe_load((run / CONFIG).read_text())["format_version"] == 1


def test_reference_conditioned_renderer_needs_references(tmp_path: Path):
    run, _ = saved(tmp_path, use_reference=True)
    renderer = load_renderer(run)
    maps = np.zeros((2, SIZE, SIZE, 3), np.uint8)
    with pytest.raises(LipsyncError, match="reference"):
        renderer.render(maps)
    masks = np.zeros((2, SIZE, SIZE), np.uint8)
    assert renderer.render(maps, maps, masks).shape == maps.shape


def test_crop_size_mismatch_is_refused(tmp_path: Path):
    run, _ = saved(tmp_path)
    with pytest.raises(LipsyncError, match="64 px"):
        load_renderer(run, crop_size=128)
    renderer = load_renderer(run)
    with pytest.raises(LipsyncError, match="expects"):
        renderer.render(np.zeros((1, 128, 128, 3), np.uint8))
    with pytest.raises(LipsyncError, match="uint8"):
        renderer.render(np.zeros((1, SIZE, SIZE, 3), np.float32))


def test_corrupted_weights_are_refused(tmp_path: Path):
    run, _ = saved(tmp_path)
    data = (run / WEIGHTS).read_bytes()
    (run / WEIGHTS).write_bytes(data[: len(data) // 2])
    with pytest.raises(LipsyncError, match="corrupted"):
        load_renderer(run)
    (run / WEIGHTS).write_bytes(b"not a torch file at all")
    with pytest.raises(LipsyncError, match="corrupted"):
        load_renderer(run)


def test_foreign_checkpoints_are_refused(tmp_path: Path):
    run, _ = saved(tmp_path)
    # Weights of another network.
    torch.save({"weight": torch.zeros(3)}, run / WEIGHTS)
    with pytest.raises(LipsyncError, match="do not fit"):
        load_renderer(run)
    # Weights of the same class at another width.
    other = UNetGenerator(3, SIZE, ngf=4, max_channels=16)
    torch.save(other.state_dict(), run / WEIGHTS)
    with pytest.raises(LipsyncError, match="do not fit"):
        load_renderer(run)
    # A pickled object rather than a state_dict is not even unpickled.
    torch.save({"weight": torch.zeros(3), "obj": Path("x")}, run / WEIGHTS)
    with pytest.raises(LipsyncError):
        load_renderer(run)


def test_foreign_or_broken_configs_are_refused(tmp_path: Path):
    run, _ = saved(tmp_path)
    cfg = yaml.safe_load((run / CONFIG).read_text())
    for broken, message in [
        ({**cfg, "format": "something-else"}, "not a renderer"),
        ({**cfg, "format_version": 99}, "format version"),
        (
            {**cfg, "generator": {**cfg["generator"], "_target_": "os.system"}},
            "not a renderer component",
        ),
        ({k: v for k, v in cfg.items() if k != "crop_size"}, "lacks"),
    ]:
        (run / CONFIG).write_text(yaml.safe_dump(broken))
        with pytest.raises(LipsyncError, match=message):
            load_renderer(run)
    (run / CONFIG).write_text("{{{ not yaml")
    with pytest.raises(LipsyncError, match="unreadable"):
        load_renderer(run)
    with pytest.raises(LipsyncError, match="not found"):
        load_renderer(tmp_path / "nowhere")
    (run / CONFIG).unlink()
    with pytest.raises(LipsyncError, match="not a trained renderer"):
        load_renderer(run)

"""The full-resolution path end to end on a synthetic cache: render, paste back, PNGs, mp4."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import torch

from landmarks.cache import SpeakerCache
from landmarks.writer import write_video
from renderer.bundle import save_renderer
from renderer.components import UNetGenerator
from renderer.paste import paste_back
from renderer.preview import preview


def test_preview_renders_a_segment_of_the_source_video(fake_cache, tmp_path: Path):
    size = 64
    root = fake_cache(size=size, n_frames=40, invalid=(35,))
    cache = SpeakerCache(root)
    # The footage the cache was "prepared" from: each crop pasted into a plain frame.
    frames = [
        paste_back(
            np.full((2 * size, 3 * size, 3), 80, np.uint8),
            cache.crops[i],
            cache.crop_boxes[i],
            np.ones((size, size), np.float32),
        )
        for i in range(cache.n_frames)
    ]
    video = write_video(tmp_path / "source.mp4", frames, cache.fps, cache.audio)
    meta = json.loads((root / "meta.json").read_text())
    meta["source"] = {"video": str(video)}
    (root / "meta.json").write_text(json.dumps(meta))

    torch.manual_seed(0)
    gen_cfg = {
        "_target_": "renderer.components.UNetGenerator",
        "in_channels": 6,
        "crop_size": size,
        "ngf": 4,
        "max_channels": 16,
    }
    gen = UNetGenerator(**{k: v for k, v in gen_cfg.items() if k != "_target_"}).eval()
    run = save_renderer(
        tmp_path / "run", gen, {"crop_size": size, "use_reference": True, "generator": gen_cfg}
    )
    out = tmp_path / "preview"
    report = preview(str(run), str(root), str(out), start_s=0.8, n_png=2, mp4=True)

    assert report["frames"] == 20 and report["first_frame"] == 20  # 0.8 s .. end at 25 fps
    assert len(list(out.glob("*_face.png"))) == 2 and len(list(out.glob("*_full.png"))) == 2
    assert np.isfinite(report["psnr_box_db"]) and report["added_jitter_levels"] >= 0
    with av.open(str(out / "preview.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 20

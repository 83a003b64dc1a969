"""Renderer speed: inference frames/s at 128 and 256 px (face maps -> pasted 720p frames),
decode and encode frames/s reported separately, and training images/s.

    .venv/bin/python benchmarks/bench_renderer.py [--frames 120] [--sizes 128 256] [--run-dir RUN]

The default generator of conf/render_model/unet.yaml is built at each size
(random weights: speed does not depend on their values) unless ``--run-dir``
names a trained renderer. Prints the machine load next to every figure: the
CPU of the development machine is shared.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from landmarks.media import iter_frames
from landmarks.writer import VideoWriter
from renderer.components import input_channels
from renderer.inference import NeuralRenderer, load_renderer
from renderer.paste import feather_mask, paste_back

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO / ".." / "shared" / "data" / "obama_weekly_train.mp4"


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def config(size: int, overrides: list[str] = ()):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(
            "renderer_train",
            overrides=[
                "speaker=bench",
                f"crop_size={size}",
                "paths.output_dir=/tmp/bench",
                *overrides,
            ],
        )


def default_renderer(size: int) -> NeuralRenderer:
    cfg = config(size)
    gen_cfg = {**dict(cfg.render_model.generator), "in_channels": input_channels(cfg.use_reference)}
    generator = instantiate(gen_cfg)
    return NeuralRenderer(generator, {"crop_size": size, "use_reference": bool(cfg.use_reference)})


def test_frames(n: int) -> list[np.ndarray]:
    """n decoded 720p frames (the real clip when present, else a synthetic frame)."""
    if VIDEO.exists():
        frames = []
        for _, frame in iter_frames(VIDEO):
            frames.append(frame)
            if len(frames) == n:
                break
        return frames
    return [np.full((720, 1280, 3), 128, np.uint8)] * n


def bench_decode(n: int) -> None:
    if not VIDEO.exists():
        print(f"decode: skipped ({VIDEO} not found)")
        return
    t = time.perf_counter()
    count = 0
    for _ in iter_frames(VIDEO):
        count += 1
        if count == n:
            break
    print(f"decode 720p: {count / (time.perf_counter() - t):.1f} frames/s  ({load()})")


def bench_inference(renderer: NeuralRenderer, frames: list[np.ndarray]) -> None:
    size, n = renderer.crop_size, len(frames)
    rng = np.random.default_rng(0)
    maps = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    refs = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    masks[:, size // 2 : -size // 8, size // 5 : -size // 5] = 1
    box = np.array([640.0, 330.0, 255.0])  # a ~150 px face in a 720p frame, crop side 1.7x
    renderer.render(maps[:4], refs[:4], masks[:4])  # warm up oneDNN kernels
    t0 = time.perf_counter()
    crops = renderer.render(maps, refs, masks)
    t1 = time.perf_counter()
    for i, frame in enumerate(frames):
        paste_back(frame, crops[i], box, feather_mask(masks[i]), colour_match=True)
    t2 = time.perf_counter()
    print(
        f"inference {size} px: {n / (t2 - t0):.1f} frames/s end to end "
        f"(render {n / (t1 - t0):.1f}/s, mask + paste at 720p {n / (t2 - t1):.1f}/s)  ({load()})"
    )


def bench_encode(frames: list[np.ndarray]) -> None:
    fps = 30.0
    audio = np.zeros(int(len(frames) / fps * 16000), np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        with VideoWriter(Path(tmp) / "bench.mp4", fps, audio) as writer:
            for i in range(writer.n_frames):
                writer.write(frames[i % len(frames)])
        dt = time.perf_counter() - t
    print(f"encode 720p H.264 + AAC: {writer.n_frames / dt:.1f} frames/s  ({load()})")


def bench_training(size: int, steps: int) -> None:
    import pytorch_lightning as pl

    cfg = config(size)
    n_in = input_channels(cfg.use_reference)
    gen_cfg = {**dict(cfg.render_model.generator), "in_channels": n_in}
    module = instantiate(
        cfg.render_model.module,
        generator=instantiate(gen_cfg),
        discriminator=instantiate(cfg.render_model.discriminator, in_channels=n_in + 3),
        grid_dir=None,
    )
    batch_size = int(cfg.render_data.batch_size)
    g = torch.Generator().manual_seed(0)
    item = {
        k: torch.randint(0, 256, (c, size, size), dtype=torch.uint8, generator=g)
        for k, c in (("face_map", 3), ("crop", 3))
    }
    item["lower_mask"] = torch.zeros(1, size, size, dtype=torch.uint8)
    item["mouth_mask"] = torch.zeros(1, size, size, dtype=torch.uint8)
    loader = torch.utils.data.DataLoader([item] * batch_size * (steps + 2), batch_size=batch_size)

    class Clock(pl.Callback):
        start = end = 0.0

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if batch_idx == 2:  # after two warm-up steps
                self.start = time.perf_counter()

        def on_train_end(self, trainer, module):
            self.end = time.perf_counter()

    clock = Clock()
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[clock],
    )
    trainer.fit(module, train_dataloaders=loader)
    print(
        f"training {size} px, batch {batch_size}: "
        f"{steps * batch_size / (clock.end - clock.start):.1f} images/s  ({load()})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120, help="frames per inference measurement")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--run-dir", help="a trained renderer (its own crop size only)")
    parser.add_argument("--train-steps", type=int, default=10)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {load()}")
    bench_decode(args.frames)
    frames = test_frames(args.frames)
    if args.run_dir:
        bench_inference(load_renderer(args.run_dir), frames)
    else:
        for size in args.sizes:
            bench_inference(default_renderer(size), frames)
    bench_encode(frames)
    if args.train_steps > 0:
        bench_training(128, args.train_steps)


if __name__ == "__main__":
    main()

"""Renderer speed: inference frames/s at 128 and 256 px (template frame -> pasted 720p frame),
decode and encode frames/s reported separately, and training images/s.

    .venv/bin/python benchmarks/bench_renderer.py [--frames 120] [--sizes 128 256] [--run-dir RUN]
        [--variant 'render_model.generator.ngf=32']

The default renderer of conf/renderer_train.yaml (lower-face box, reference
bank) and the whole-crop renderer it replaced are built at each size, side by
side in one run (random weights: speed does not depend on their values),
unless ``--run-dir`` names a trained renderer; ``--variant`` adds other
configurations to the same run. Inference covers the whole
per-frame path of speak: render-box crop, edges and face map, network, paste.
Prints the machine load next to every figure: the CPU of the development
machine is shared.
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

from landmarks.crop import frame_to_crop
from landmarks.media import iter_frames
from landmarks.synthetic import base_portrait
from landmarks.writer import VideoWriter
from renderer.components import input_channels, odd_part
from renderer.inference import NeuralRenderer, load_renderer, render_and_paste
from renderer.reference_bank import ReferenceBank
from renderer.render_box import RenderBox

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


FACE_BOX = np.array([640.0, 330.0, 255.0])  # a ~150 px face in a 720p frame, crop side 1.7x


def face_landmarks() -> np.ndarray:
    """(68, 2) landmarks of the sample portrait, placed as a ~150 px face at FACE_BOX (frame px)."""
    _, points = base_portrait()
    centred = points - (points.min(0) + points.max(0)) / 2
    return centred * (150 / np.ptp(points[:, 0])) + FACE_BOX[:2]


def default_renderer(size: int, overrides: list[str] = ()) -> NeuralRenderer:
    """The configured renderer (render box, reference bank) with random weights."""
    cfg = config(size, overrides)
    mouth_reference = bool(cfg.mouth_reference)
    n_in = input_channels(cfg.use_reference, mouth_reference)
    box = RenderBox.whole_crop(size)
    if cfg.render_box == "lower":
        in_crop = frame_to_crop(face_landmarks(), FACE_BOX, size)
        # render_size=auto follows real footage; this synthetic face renders at the crop size
        render = size if cfg.render_size == "auto" else int(cfg.render_size)
        box = RenderBox.fit_lower_face(in_crop[None], size, render, float(cfg.render_data.box_margin))
    generator = instantiate({**dict(cfg.render_model.generator), "in_channels": n_in, "crop_size": box.size,
                             "bottleneck": odd_part(box.size)})
    bank = None
    if mouth_reference:
        rng = np.random.default_rng(0)
        k = int(cfg.render_data.bank_size)
        # the bank's faces: the benchmark face, each point moved by up to a pixel or two
        in_box = frame_to_crop(face_landmarks(), box.frame_boxes(FACE_BOX[None])[0], box.size)
        bank = ReferenceBank(rng.integers(0, 256, (k, box.size, box.size, 3), dtype=np.uint8),
                             rng.normal(0, 0.05, (k, 40)).astype(np.float32), np.zeros(k, np.float32),
                             (in_box + rng.normal(0, 1.0, (k, 68, 2))).astype(np.float32))
    config_record = {"crop_size": size, "use_reference": bool(cfg.use_reference), "render_box": box.to_dict(),
                     "mouth_reference": mouth_reference, "warp_reference": mouth_reference and bool(cfg.warp_reference),
                     "detail_transfer": float(cfg.detail_transfer) if mouth_reference else 0.0,
                     "detail_neighbours": int(cfg.detail_neighbours),
                     "face_map": {"size": size}}
    return NeuralRenderer(generator, config_record, bank=bank)


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


def bench_inference(renderer: NeuralRenderer, frames: list[np.ndarray], label: str = "") -> None:
    """The whole per-frame path of speak: render-box inputs, the network, paste-back at 720p."""
    n = len(frames)
    landmarks = np.repeat(face_landmarks()[None], n, axis=0)
    boxes, valid = np.repeat(FACE_BOX[None], n, axis=0), np.ones(n, bool)
    list(render_and_paste(renderer, frames[:4], boxes[:4], landmarks[:4], landmarks[:4], valid[:4]))  # warm up
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    for _ in render_and_paste(renderer, frames, boxes, landmarks, landmarks, valid, timings=timings):
        pass
    total = time.perf_counter() - t0
    per = {k: n / max(v, 1e-9) for k, v in timings.items()}
    print(
        f"inference {renderer.box.size} px ({'whole crop' if renderer.box.is_whole_crop else 'lower-face box'}"
        f"{', reference bank' if renderer.bank is not None else ''}{', warped' if renderer.warp_reference else ''}"
        f"{f', detail x{renderer.detail_transfer:g}' if renderer.detail_transfer else ''}"
        f"{label}): {n / total:.1f} frames/s end to end "
        f"(inputs {per['face_maps']:.0f}/s, render {per['render']:.1f}/s, paste at 720p {per['paste']:.0f}/s)"
        f"  ({load()})"
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
    n_in = input_channels(cfg.use_reference, bool(cfg.mouth_reference))
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
        for k, c in (("face_map", 3), ("crop", 3), ("mouth_ref", 3))
    }
    if not cfg.mouth_reference:
        del item["mouth_ref"]
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
    parser.add_argument("--variant", action="append", default=[], metavar="OVERRIDES",
                        help="another renderer config beside the default, e.g. 'render_model.generator.ngf=16' "
                             "(space-separated overrides; repeatable)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {load()}")
    bench_decode(args.frames)
    frames = test_frames(args.frames)
    if args.run_dir:
        bench_inference(load_renderer(args.run_dir), frames)
    else:
        for size in args.sizes:
            # the default (lower-face box + reference bank) beside the whole-crop renderer it replaced
            # and any --variant, in one run so the shared machine's load affects them alike
            for overrides in ([], ["render_box=face", "mouth_reference=false"], *(v.split() for v in args.variant)):
                label = "".join(f", {o}" for o in overrides if not o.startswith(("render_box", "mouth_reference")))
                bench_inference(default_renderer(size, overrides), frames, label)
    bench_encode(frames)
    if args.train_steps > 0:
        bench_training(128, args.train_steps)


if __name__ == "__main__":
    main()

"""``renderer-preview``: render a cache's own footage back through a trained renderer.

    renderer-preview RUN_DIR --cache /work/cache/obama_weekly-* --out outputs/renderer_samples

Self reconstruction at full resolution: each frame's face map is drawn from its
own landmarks, rendered, and pasted back into the original frame through the
feathered lower-face mask, exactly as ``speak`` will do with new landmarks. By
default the held-out block (the last 20 % of the clip) is used. Writes PNGs
(ground truth | rendered, a zoom on the face and the whole frame at half size),
optionally an mp4 of the segment with its own audio, and prints three checks:
the seam's colour shift, the temporal jitter added inside the pasted region,
and PSNR inside the crop box; plus the mouth-box measures of
:mod:`renderer.mouth_metrics` (PSNR, SSIM, sharpness and flicker ratios, all at
the footage's resolution) and ``mouth_strip.png`` (truth above output).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from landmarks.cache import SpeakerCache
from landmarks.errors import LipsyncError, exit_on_user_error
from landmarks.media import iter_frames
from landmarks.writer import VideoWriter
from renderer.datamodule import resolve_cache
from renderer.inference import load_renderer, paste_region, render_and_paste
from renderer.mouth_metrics import MouthMeter, box_slices
from renderer.paste import paste_back


def _segment_frames(video: Path, start: int, stop: int):
    for i, (_, frame) in enumerate(iter_frames(video)):
        if i >= stop:
            return
        if i >= start:
            yield frame


def preview(
    run_dir: str,
    cache_dir: str,
    out_dir: str,
    start_s: float | None = None,
    seconds: float | None = None,
    n_png: int = 4,
    mp4: bool = False,
    colour_match: bool = True,
    detail_transfer: float | None = None,
    detail_neighbours: int | None = None,
) -> dict[str, float]:
    """Render a segment, save PNGs (and an mp4); returns the checks (units in the keys).
    ``detail_transfer``, ``detail_neighbours``: in place of the renderer's own (None: its own)."""
    cache = SpeakerCache(resolve_cache(cache_dir))
    renderer = load_renderer(run_dir, crop_size=cache.crop_size, detail_transfer=detail_transfer,
                             detail_neighbours=detail_neighbours)
    video = Path(cache.meta["source"]["video"])
    t = cache.timestamps
    start = int(np.searchsorted(t, start_s if start_s is not None else t[-1] * 0.8))
    stop = len(t) if seconds is None else int(np.searchsorted(t, t[start] + seconds))
    if stop <= start:
        raise LipsyncError(f"empty segment: frames {start}..{stop} of {len(t)}")
    idx = np.arange(start, stop)
    boxes, valid = cache.crop_boxes[start:stop], cache.valid[start:stop]
    own = cache.landmarks[start:stop]  # self reconstruction: each frame drawn from its own landmarks
    rendered = render_and_paste(
        renderer, _segment_frames(video, start, stop), boxes, own, own, valid, colour_match=colour_match
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png_at = set(np.linspace(0, len(idx) - 1, n_png).astype(int).tolist()) if n_png else set()
    writer = None
    if mp4:
        a0 = int(round(t[start] * cache.audio_rate))
        a1 = a0 + int(round(len(idx) / cache.fps * cache.audio_rate))
        writer = VideoWriter(out / "preview.mp4", cache.fps, cache.audio[a0:a1], cache.audio_rate)
    shifts, jitter, psnrs = [], [], []
    mouth = MouthMeter(n_closeups=8, closeup_every=max(1, len(idx) // 8))
    prev_out = prev_gt = None
    for j, (gt, res) in enumerate(zip(_segment_frames(video, start, stop), rendered, strict=True)):
        if writer is not None:
            writer.write(res)
        ys, xs = box_slices(boxes[j], gt.shape)
        if valid[j]:
            mouth.add(res, gt, own[j])
        box, mask, _ = paste_region(renderer, boxes[j], own[j], own[j])
        # Where the pasted face is: the weight warped to the frame (paste a white crop into black).
        white = np.full((*mask.shape, 3), 255, np.uint8)
        weight = paste_back(np.zeros_like(gt), white, box, renderer.paste_weight(mask))[..., 0] / 255.0
        seam = (weight > 0.05) & (weight < 0.5)
        diff = res.astype(np.float32) - gt.astype(np.float32)
        if seam.any():
            shifts.append(diff[seam].mean(0))
        mse = float((diff[ys, xs] ** 2).mean())
        psnrs.append(10 * np.log10(255.0**2 / max(mse, 1e-10)))
        inside = weight > 0.5
        if prev_out is not None and inside.any():
            # Jitter: frame-to-frame change of the output minus that of the footage, in the paste.
            d_out = res.astype(np.float32) - prev_out
            d_gt = gt.astype(np.float32) - prev_gt
            jitter.append(float(np.abs(d_out - d_gt)[inside].mean()))
        prev_out, prev_gt = res.astype(np.float32), gt.astype(np.float32)
        if j in png_at:
            zoom = np.concatenate([gt[ys, xs], res[ys, xs]], axis=1)
            whole = cv2.resize(
                np.concatenate([gt, res], axis=1),
                None,
                fx=0.5,
                fy=0.5,
                interpolation=cv2.INTER_AREA,
            )
            cv2.imwrite(
                str(out / f"frame{idx[j]:05d}_face.png"), cv2.cvtColor(zoom, cv2.COLOR_RGB2BGR)
            )
            cv2.imwrite(
                str(out / f"frame{idx[j]:05d}_full.png"), cv2.cvtColor(whole, cv2.COLOR_RGB2BGR)
            )
    if writer is not None:
        writer.close()
    shift = np.mean(shifts, 0) if shifts else np.zeros(3)
    report = {
        "frames": len(idx),
        "first_frame": int(start),
        "seam_colour_shift_rgb_levels": [round(float(v), 2) for v in shift],
        "added_jitter_levels": round(float(np.mean(jitter)), 2) if jitter else 0.0,
        "psnr_box_db": round(float(np.mean(psnrs)), 2),
        "detail_transfer": renderer.detail_transfer,
        "detail_neighbours": renderer.detail_neighbours,
        **mouth.summary(),
    }
    strip = mouth.strip()
    if strip is not None:
        cv2.imwrite(str(out / "mouth_strip.png"), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    (out / "preview.json").write_text(json.dumps(report, indent=2))
    return report


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="trained renderer (renderer.pt + renderer.yaml)")
    parser.add_argument("--cache", required=True, help="speaker cache directory or glob")
    parser.add_argument("--out", default="outputs/renderer_samples")
    parser.add_argument(
        "--start-s", type=float, default=None, help="default: the last 20 %% of the clip"
    )
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--png", type=int, default=4, help="number of PNG samples")
    parser.add_argument("--mp4", action="store_true", help="also write preview.mp4 with the audio")
    parser.add_argument("--no-colour-match", action="store_true")
    parser.add_argument("--detail-transfer", type=float, default=None, metavar="GAIN",
                        help="fine-detail gain in place of the renderer's own (0: the network's output alone)")
    parser.add_argument("--detail-neighbours", type=int, default=None, metavar="K",
                        help="take the fine detail from the mean of the K nearest bank crops (in place of the "
                             "renderer's own)")
    args = parser.parse_args(argv)
    report = preview(
        args.run_dir,
        args.cache,
        args.out,
        args.start_s,
        args.seconds,
        args.png,
        args.mp4,
        not args.no_colour_match,
        args.detail_transfer,
        args.detail_neighbours,
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()

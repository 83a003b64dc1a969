"""Speed and peak memory of the prepare step on the real clips.

    .venv/bin/python benchmarks/bench_prepare.py [--clips lieu obama_weekly] [--repeat-long 3]

For each clip it prints, side by side: decoding alone (frames/s), dlib detection
on every frame (frames/s, for scale), and the full prepare (frames/s, wall time,
peak RSS). Each prepare runs in a fresh process with a fresh cache directory so
nothing is reused and peak memory is that run's own. To show that memory does
not grow with clip length, the first clip is also prepared looped N times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CLIPS = {"lieu": "lieu_train.mp4", "obama_weekly": "obama_weekly_train.mp4"}

CHILD = """
import json, resource, sys, time
from hydra import compose, initialize_config_dir
from landmarks.prepare import prepare
with initialize_config_dir(config_dir=sys.argv[1], version_base="1.3"):
    cfg = compose(config_name="prepare", overrides=[f"video={sys.argv[2]}", "speaker=bench",
                  f"paths.cache_dir={sys.argv[3]}"])
start = time.perf_counter()
path = prepare(cfg, progress=False)
wall = time.perf_counter() - start
print(json.dumps({"wall_s": wall, "frames": json.load(open(path / "meta.json"))["n_frames"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def decode_fps(video: Path, limit: int = 600) -> float:
    from landmarks.media import iter_frames

    start, n = time.perf_counter(), 0
    for _ in iter_frames(video):
        n += 1
        if n >= limit:
            break
    return n / (time.perf_counter() - start)


def detect_every_frame_fps(video: Path, limit: int = 150) -> float:
    """dlib HOG detection on every frame (downscaled to <= 640 px) + the predictor."""
    import cv2

    from landmarks.detect import DetectParams, FaceTracker
    from landmarks.media import iter_frames

    tracker = FaceTracker(DetectParams(), 25)
    start, n = time.perf_counter(), 0
    for _, rgb in iter_frames(video):
        tracker._acquire(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), near=None)
        n += 1
        if n >= limit:
            break
    return n / (time.perf_counter() - start)


def prepare_in_child(video: Path) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        out = subprocess.run([sys.executable, "-c", CHILD, str(REPO / "conf"), str(video), cache],
                             capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def looped(video: Path, times: int, out: Path) -> Path:
    """Re-encode ``video`` ``times`` times back to back (a longer clip with the same content)."""
    import numpy as np

    from landmarks.media import AUDIO_RATE, iter_frames, load_audio, probe_video
    from landmarks.writer import write_video

    info = probe_video(video)
    n = sum(1 for _ in iter_frames(video))  # frames of one pass
    # The writer takes as many frames as the audio covers: cut the audio to the frames.
    audio = np.tile(load_audio(video), times)[: int(n * times / info.fps * AUDIO_RATE)]
    return write_video(out, (rgb for _ in range(times) for _, rgb in iter_frames(video)), info.fps, audio)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="+", default=list(CLIPS), choices=list(CLIPS))
    parser.add_argument("--repeat-long", type=int, default=3, help="loop the first clip this many times")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (1 min)")
    print(f"{'clip':<22}{'frames':>7}{'decode f/s':>12}{'detect-all f/s':>16}{'prepare f/s':>13}"
          f"{'wall s':>8}{'peak RSS MB':>13}")
    for name in args.clips:
        video = DATA / CLIPS[name]
        if not video.exists():
            print(f"{name}: skipped, {video} not found")
            continue
        run = prepare_in_child(video)
        print(f"{name:<22}{run['frames']:>7}{decode_fps(video):>12.0f}{detect_every_frame_fps(video):>16.0f}"
              f"{run['frames'] / run['wall_s']:>13.0f}{run['wall_s']:>8.1f}{run['peak_rss_mb']:>13.0f}")
    first = DATA / CLIPS[args.clips[0]]
    if args.repeat_long > 1 and first.exists():
        with tempfile.TemporaryDirectory() as tmp:
            long_clip = looped(first, args.repeat_long, Path(tmp) / "long.mp4")
            run = prepare_in_child(long_clip)
            print(f"{args.clips[0] + f' x{args.repeat_long}':<22}{run['frames']:>7}{'':>12}{'':>16}"
                  f"{run['frames'] / run['wall_s']:>13.0f}{run['wall_s']:>8.1f}{run['peak_rss_mb']:>13.0f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

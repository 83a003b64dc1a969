"""What a user waits for: the speak command line from start to file, and its start-up alone.

    .venv/bin/python benchmarks/bench_speak_cli.py --bundle BUNDLE [--runs 2] [--text "words..."]

Each run is a fresh process, as a shell user gets: ``python -m pipeline.speak bundle=... text=...``
timed from launch to exit, next to a second fresh process that only imports speak's modules and
loads the bundle's two networks (start-up: Python, torch, the bundle). The text's audio seconds come
from the written file. ``bench_speak.py`` measures speak's work with everything already loaded.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STARTUP = """
import sys, time
t0 = time.perf_counter()
from pipeline.bundle import SpeakerBundle
import pipeline.speak  # noqa: F401
bundle = SpeakerBundle.open(sys.argv[1])
bundle.audio2mouth, bundle.renderer
print(time.perf_counter() - t0)
"""


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    """Wall seconds of ``command`` run to completion, and its stdout; exits on failure."""
    tick = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    wall = time.perf_counter() - tick
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(command[:3])}: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
    return wall, out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", required=True, type=Path)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--text", default="Good evening, here is the news of the day from the region.")
    args = parser.parse_args()
    repo = Path(__file__).resolve().parents[1]
    from landmarks.media import probe_video

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (1 min)")
    print(f"{'run':>4}{'start-up s':>12}{'command s':>11}{'audio s':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.runs):
            startup, printed = timed([sys.executable, "-c", STARTUP, str(args.bundle.resolve())], repo)
            out = Path(tmp) / f"speak{k}.mp4"
            wall, _ = timed([sys.executable, "-m", "pipeline.speak", f"bundle={args.bundle.resolve()}",
                             f"text={args.text!r}", f"out={out}", f"hydra.run.dir={tmp}/run{k}"], repo)
            print(f"{k + 1:>4}{float(printed.strip()):>12.2f}{wall:>11.2f}{probe_video(out).duration_s:>9.2f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

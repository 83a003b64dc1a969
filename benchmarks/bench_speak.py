"""Real-time factor of speak, per stage, and peak memory against audio length.

    .venv/bin/python benchmarks/bench_speak.py --bundle BUNDLE [--seconds 60] [--long-seconds 600]
        [--audio real_speech.wav] [--text "words..."]

Speaks ``--seconds`` of speech-like audio with the bundle (in a fresh process, so
peak RSS is that run's own) and prints the per-stage breakdown (decode,
features, audio2mouth, face maps, render, paste-back, encode) and the real-time
factor (processing seconds / audio seconds). With ``--long-seconds`` a second,
longer run shows whether peak memory grows with the audio length. ``--audio``
uses a real recording instead (looped to ``--seconds``), so phone recognition
works on speech; ``--text`` speaks that text through espeak-ng, whose phones are
aligned to the words (the ``text=`` path of speak). Phones are timed as their
own stage, inside the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = """
import json, resource, sys, time
import numpy as np
from pipeline.bundle import SpeakerBundle
from pipeline.speak import speak
from pipeline.speak import phones_of
from landmarks.phones import Phones
bundle = SpeakerBundle.open(sys.argv[1])
audio = np.load(sys.argv[2])  # made by the parent, so making it does not count towards peak memory
words = open(sys.argv[4]).read() if len(sys.argv) > 4 else None
model = bundle.audio2mouth
no_phones = Phones(np.zeros(0), np.zeros(0), [])
t0 = time.perf_counter()
for start in range(0, len(audio), 60 * 16000):  # in 60 s pieces, as speak does, so memory stays bounded
    model.features(audio[start:start + 60 * 16000], no_phones)
features_s = time.perf_counter() - t0
bundle.renderer  # load weights before timing
import threading
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
samples, done = [], threading.Event()
def watch():
    while not done.is_set():
        samples.append(rss_mb()); time.sleep(0.05)
before = rss_mb()
threading.Thread(target=watch, daemon=True).start()
t0 = time.perf_counter()
timings = {}
phones = phones_of(bundle, audio, words, timings)
result = speak(bundle, audio, sys.argv[3] + "/out.mp4", phones=phones)
wall = time.perf_counter() - t0
result.timings.update(timings)
done.set()
print(json.dumps({"wall_s": wall, "frames": result.n_frames, "timings": result.timings,
                  "features_s": features_s, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "speak_rss_mb": max(samples) - before}))
"""


def make_audio(seconds: float, source: Path | None, text: str | None) -> np.ndarray:
    """(N,) 16 kHz audio: espeak-ng's reading of ``text``, a real recording looped, or speech-like noise."""
    if text:
        from pipeline.tts import synthesize

        return synthesize(text, "en-us")
    if source:
        from landmarks.media import load_audio

        speech = load_audio(source)
        return np.resize(speech, int(seconds * 16000)).astype(np.float32)
    from landmarks.synthetic_audio import speech_like

    return speech_like(seconds, seed=3)


def run(bundle: Path, seconds: float, threads: int | None, source: Path | None = None,
        text: str | None = None) -> tuple[float, dict]:
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    with tempfile.TemporaryDirectory() as tmp:
        audio_path = Path(tmp) / "speech.npy"
        audio = make_audio(seconds, source, text)
        np.save(audio_path, audio)
        extra = []
        if text:
            (Path(tmp) / "words.txt").write_text(text)
            extra = [str(Path(tmp) / "words.txt")]
        out = subprocess.run([sys.executable, "-c", CHILD, str(bundle), str(audio_path), tmp, *extra],
                             capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"speak failed: {out.stderr.strip().splitlines()[-1]}")
    return len(audio) / 16000, json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", required=True, type=Path)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--long-seconds", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--audio", type=Path, default=None, help="a real recording, looped to --seconds")
    parser.add_argument("--text", default=None, help="speak this text through espeak-ng (phones aligned)")
    args = parser.parse_args()
    manifest = json.loads((args.bundle / "bundle.json").read_text())
    print(f"bundle {args.bundle}: {manifest['crop_size']} px, {manifest['fps']:g} fps, "
          f"frame {manifest['frame_size'][0]}x{manifest['frame_size'][1]}")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (1 min)")
    runs = [run(args.bundle, args.seconds, args.threads, args.audio, args.text)]
    if args.long_seconds:
        runs.append(run(args.bundle, args.long_seconds, args.threads, args.audio))
    stages = ["phones", "decode", "audio2mouth", "face_maps", "render", "paste", "encode"]
    print(f"{'audio s':>8}{'frames':>8}" + "".join(f"{s:>12}" for s in stages)
          + f"{'(features)':>12}{'wall s':>9}{'RTF':>7}{'peak MB':>9}{'speak +MB':>11}")
    for seconds, r in runs:
        t = r["timings"]
        stage_cols = "".join(f"{t.get(s, 0):>12.2f}" for s in stages)
        print(f"{seconds:>8.0f}{r['frames']:>8}{stage_cols}{r['features_s']:>12.2f}{r['wall_s']:>9.1f}"
              f"{r['wall_s'] / seconds:>7.2f}{r['peak_rss_mb']:>9.0f}{r['speak_rss_mb']:>11.0f}")
    print("stage columns are seconds; (features) is the feature extraction alone, included in audio2mouth; "
          "RTF = wall / audio seconds;\npeak MB = the process's peak RSS (libraries and models included); "
          "speak +MB = highest RSS during speak minus RSS just before it (sampled every 50 ms)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""Speed and phone rate of timed-phone recognition and alignment.

    .venv/bin/python benchmarks/bench_phones.py [--mode words|allphone] [--clips lieu obama_clip2 ...]

For each real clip in ../shared/data it prints the seconds of audio, the wall
seconds of ``recognize()`` with jobs=1 and jobs=2, their real-time factors
(wall / audio), the phone rate (non-silence phones per second of speech, and
per second of audio) and how the phone times were obtained (phone-chain FSG,
PocketSphinx's sub-word aligner, or the even-spread fallback). Then the time
of ``align()`` for espeak-ng sentences. "CPU RTF" is the CPU time of the
jobs=1 run over the audio's duration: less sensitive to other programs than wall
time, it is about what jobs=1 takes on an idle core. Decoders and worker processes are
warmed up first (a fresh process pays ~0.5 s per decoder, plus the workers'
start, once). The machine's load average is printed before and after: on a
shared machine it changes the timings more than anything else.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CLIPS = {
    "lieu": "lieu_train.mp4",
    "obama_weekly": "obama_weekly_train.mp4",
    "obama_clip2": "obama_clip2.wav",
    "macron": "macron_address.mp4",
}
SENTENCES = {
    "short": "Bob bought a map by the big pub.",
    "long": "Good evening. The council met on Monday to debate the budget for next year. Members approved "
    "a plan to build four hundred homes by the river, and the mayor promised better buses and safer "
    "streets. Critics said the plan came too late, and that rents in the city centre would keep rising. "
    "In sport, the home team won its third match in a row, and the weather will stay dry until Friday.",
}


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def timed(fn, *args, **kwargs):
    """(fn(*args, **kwargs), wall seconds, CPU seconds of this process)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="words", choices=["words", "allphone"])
    parser.add_argument("--clips", nargs="*", default=list(CLIPS), choices=list(CLIPS))
    args = parser.parse_args()

    from landmarks import align as engine
    from landmarks.media import load_audio
    from landmarks.phones import align, recognize

    print(load())
    clips = {name: DATA / CLIPS[name] for name in args.clips if (DATA / CLIPS[name]).exists()}
    if not clips:
        print(f"no clips found in {DATA}")
    audio = {name: load_audio(path) for name, path in clips.items()}
    if audio:  # warm up: decoders in this process and in the workers
        first = next(iter(audio.values()))[: 12 * 16_000]
        recognize(first, jobs=1, mode=args.mode)
        recognize(first, jobs=2, mode=args.mode)

    print(f"\nrecognize(mode={args.mode!r})")
    print(f"{'clip':14s} {'audio s':>8s} {'jobs=1 s':>9s} {'RTF':>6s} {'CPU RTF':>8s} {'jobs=2 s':>9s} {'RTF':>6s} "
          f"{'ph/s speech':>12s} {'ph/s audio':>11s}  phone times from")
    for name, samples in audio.items():
        seconds = len(samples) / 16_000
        before = dict(engine.stats)
        _, wall1, cpu1 = timed(recognize, samples, jobs=1, mode=args.mode)
        used = {k: v - before[k] for k, v in engine.stats.items() if v != before[k]}
        phones, wall2, _ = timed(recognize, samples, jobs=2, mode=args.mode)
        spoken = sum(label != "SIL" for label in phones.labels)
        print(f"{name:14s} {seconds:8.1f} {wall1:9.2f} {wall1 / seconds:6.3f} {cpu1 / seconds:8.3f} {wall2:9.2f} "
              f"{wall2 / seconds:6.3f} "
              f"{phones.rate():12.1f} {spoken / seconds:11.1f}  {used or '-'} (jobs=1)")

    if shutil.which("espeak-ng") is None:
        print("\nalign(): espeak-ng not installed, skipped")
    else:
        print("\nalign() of espeak-ng speech")
        with tempfile.TemporaryDirectory() as tmp:
            for name, text in SENTENCES.items():
                wav = Path(tmp) / f"{name}.wav"
                subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), text], check=True)
                samples = load_audio(wav)
                align(samples, text)  # warm-up (the text decoder)
                phones, wall, _ = timed(align, samples, text)
                seconds = len(samples) / 16_000
                print(f"{name:6s} {seconds:6.1f} s of audio, {len(text.split()):3d} words: {wall:6.3f} s wall "
                      f"(RTF {wall / seconds:.3f}), {sum(label != 'SIL' for label in phones.labels)} phones, "
                      f"{phones.rate():.1f} phones/s of speech")
    print(f"\n{load()}")


if __name__ == "__main__":
    main()

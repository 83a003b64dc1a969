"""The newsroom page's cost: server start-up, and a render through the page against lipsync-speak's run().

    .venv/bin/python benchmarks/bench_studio.py [--bundle BUNDLE] [--seconds 20] [--repeats 3]

Start-up: ``lipsync-studio`` is launched as a fresh process ``--starts`` times;
the figure is the time from process start to the first HTTP 200 on ``/``
(imports, Hydra, binding; the speak code path keeps importing in the
background after that, off the request threads).

Render: one speech-like wav of ``--seconds`` is rendered alternately (a) by
``pipeline.speak.run(cfg)`` in this process, as ``lipsync-speak`` does after its
imports, and (b) through the running page's HTTP API, exactly as the page's
JavaScript does it: upload the file, POST the render, poll the status every
0.3 s until done, download the mp4. Both open the bundle and load its models
per render. The ratio (b) / (a) of the medians is the page's overhead, in wall
time and in CPU time (this process's for (a), the server process's for (b));
CPU time is the steadier figure on a machine that others are using too.
Without ``--bundle`` a tiny bundle is fitted on the synthetic sample first (~2 min).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("lipsync-studio")  # the console script an editor runs
STUDIO = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "pipeline.studio"]
POLL_S = 0.3  # the page's own polling interval (studio_page.html)


def write_wav(path: Path, seconds: float) -> Path:
    from landmarks.synthetic_audio import speech_like

    samples = (np.clip(speech_like(seconds, seed=3), -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(samples.tobytes())
    return path


def start_studio(bundles: Path, work: Path) -> tuple[subprocess.Popen, str, float]:
    """Launch the studio; returns (process, url, seconds from launch to the first 200 on /)."""
    args = [f"bundles_dir={bundles}", "port=0", f"out_dir={work / 'renders'}", f"paths.cache_dir={work / 'cache'}",
            f"hydra.run.dir={work / 'logs'}"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(STUDIO + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    url = None
    for line in proc.stdout:
        if line.startswith("newsroom studio: "):
            url = line.split()[2]
            break
    if url is None:
        sys.exit(f"lipsync-studio did not start (exit {proc.wait()})")
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep its pipe from filling up
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return proc, url, time.perf_counter() - t0
        except OSError:
            time.sleep(0.01)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(60)


def api(url: str, body: bytes | None = None, content_type: str = "application/json") -> dict:
    headers = {"X-Studio": "1", "Content-Type": content_type} if body is not None else {}
    with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers), timeout=600) as response:
        return json.loads(response.read())


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of process ``pid`` (default: this one), all its threads."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def render_through_page(url: str, bundle: str, wav: Path) -> tuple[float, float]:
    """(seconds from upload to the mp4 downloaded, the server's own render seconds)."""
    t0 = time.perf_counter()
    token = api(f"{url}api/upload?kind=audio&name={wav.name}", wav.read_bytes(), "application/octet-stream")["upload"]
    job = api(f"{url}api/render", json.dumps({"bundle": bundle, "audio": token}).encode())
    while job["state"] in ("queued", "running"):
        time.sleep(POLL_S)
        job = api(f"{url}api/jobs/{job['id']}")
    if job["state"] != "done":
        sys.exit(f"render through the page failed: {job['message']}")
    with urllib.request.urlopen(url + job["video"].lstrip("/"), timeout=60) as response:
        response.read()
    return time.perf_counter() - t0, job["render_s"]


def render_with_speak(bundle: Path, wav: Path, out: Path) -> float:
    from pipeline.speak import run
    from pipeline.stages import compose_stage

    cfg = compose_stage("speak", [f"bundle={bundle}", f"audio={wav}", f"out={out}"])
    t0 = time.perf_counter()
    run(cfg)
    return time.perf_counter() - t0


def tiny_bundle(work: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests" / "pipeline"))
    from conftest import fit_tiny

    from landmarks.synthetic import make_sample

    make_sample(work / "sample", duration_s=12.0, seed=1)
    return fit_tiny(work / "sample" / "sample_anchor.mp4", work / "bundles" / "sample", work / "cache", "sample")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, help="a speaker bundle (default: fit a tiny one on the sample)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the speech rendered")
    parser.add_argument("--repeats", type=int, default=3, help="renders of each kind, alternating")
    parser.add_argument("--starts", type=int, default=3, help="server start-ups timed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-studio-") as tmp:
        work = Path(tmp)
        bundle = args.bundle.resolve() if args.bundle else tiny_bundle(work / "fit")
        bundles = work / "shelf"
        bundles.mkdir()
        (bundles / bundle.name).symlink_to(bundle)
        wav = write_wav(work / "speech.wav", args.seconds)
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (1 min)")

        starts = []
        for _ in range(args.starts):
            proc, url, seconds = start_studio(bundles, work / "start")
            starts.append(seconds)
            stop(proc)
        print("start-up to first HTTP 200 (s): " + ", ".join(f"{s:.2f}" for s in starts)
              + f"   median {statistics.median(starts):.2f}")

        proc, url, _ = start_studio(bundles, work / "page")
        try:
            time.sleep(5)  # let the studio finish importing the speak code path in the background
            direct, page, server, direct_cpu, page_cpu = [], [], [], [], []
            for i in range(args.repeats):
                c0 = cpu_seconds()
                direct.append(render_with_speak(bundle, wav, work / f"direct_{i}.mp4"))
                direct_cpu.append(cpu_seconds() - c0)
                c0 = cpu_seconds(proc.pid)
                wall, inside = render_through_page(url, bundle.name, wav)
                page_cpu.append(cpu_seconds(proc.pid) - c0)
                page.append(wall)
                server.append(inside)
                print(f"  run {i + 1}: speak run() {direct[-1]:.2f} s ({direct_cpu[-1]:.1f} s CPU) | page {wall:.2f} s "
                      f"(server-side {inside:.2f} s, {page_cpu[-1]:.1f} s CPU)")
        finally:
            stop(proc)
        a, b = statistics.median(direct), statistics.median(page)
        print(f"render of {args.seconds:g} s of audio, median of {args.repeats}: speak run() {a:.2f} s, "
              f"through the page {b:.2f} s (upload + queue + render + {POLL_S} s polling + download)")
        print(f"page / speak = {b / a:.3f} in wall time, "
              f"{statistics.median(page_cpu) / statistics.median(direct_cpu):.3f} in CPU time  (target <= 1.10); "
              f"server-side render alone / speak = {statistics.median(server) / a:.3f} (wall)")
        extra = statistics.median(w - s for w, s in zip(page, server, strict=True))
        print(f"the page's own cost (upload, queue, polling, download = page - server-side render): median "
              f"{extra:.2f} s = {100 * extra / a:.1f} % of speak; the rest of any difference is the machine's noise")
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""Inference speed of every audio2mouth model side by side, for one minute of audio.

    .venv/bin/python benchmarks/bench_audio2mouth.py [--runs MULTIRUN_DIR] [--threads 1 2]

Prints, per model and torch thread count, the best-of-N wall time for 60 s of
16 kHz audio: the network alone (features precomputed) and features + network.
With ``--runs`` the trained weights of each model's first run are used (speed
does not depend on the weights; it makes the measured models the reported
ones); otherwise the networks come from the default model configs. The machine
load (``os.getloadavg``) is printed with the figures because the CPU is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from audio2mouth.bundle import load_bundle
from audio2mouth.features import AudioFeatures
from landmarks.media import AUDIO_RATE

CONF = Path(__file__).resolve().parents[1] / "conf"
MODELS = ["adv_tcn", "tcn", "lstm", "bilstm"]


def nets_from_configs(k: int) -> dict[str, tuple[torch.nn.Module, AudioFeatures]]:
    out = {}
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        for name in MODELS:
            cfg = compose("audio2mouth_train", overrides=[f"model={name}"])
            feats = instantiate(cfg.data.features)
            out[name] = (
                instantiate(cfg.model.net)(in_features=feats.n_features, out_features=k),
                feats,
            )
    return out


def nets_from_runs(root: Path) -> dict[str, tuple[torch.nn.Module, AudioFeatures]]:
    out = {}
    for path in sorted(root.rglob("results.json"), key=lambda p: json.loads(p.read_text())["seed"]):
        name = json.loads(path.read_text())["model"]
        if name not in out:
            model = load_bundle(path.parent)
            out[name] = (model.net, model.features)
    return out


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=None, help="multirun dir of trained runs")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--k", type=int, default=9, help="PCA size when building from configs")
    args = parser.parse_args()

    nets = nets_from_runs(args.runs) if args.runs else nets_from_configs(args.k)
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(int(args.seconds * AUDIO_RATE))).astype(np.float32)
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, audio {args.seconds:.0f} s, best of {args.repeats}"
    )
    print("| model | params | threads | model only (ms) | features + model (ms) | load (1/5 min) |")
    print("|---|---|---|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name, (net, feats) in nets.items():
            net.eval()
            x = torch.from_numpy(feats(audio))[None]
            with torch.inference_mode():
                net(x)  # warm-up
                model_s = best_time(lambda net=net, x=x: net(x), args.repeats)
                total_s = best_time(
                    lambda net=net, feats=feats: net(torch.from_numpy(feats(audio))[None]),
                    args.repeats,
                )
            params = sum(p.numel() for p in net.parameters())
            load = os.getloadavg()
            print(
                f"| {name} | {params} | {threads} | {1000 * model_s:.1f} | {1000 * total_s:.1f} "
                f"| {load[0]:.2f} / {load[1]:.2f} |"
            )


if __name__ == "__main__":
    main()

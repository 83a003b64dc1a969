"""How a trained model holds up when the audio is not the footage's own recording.

    audio2mouth-robustness RUN_DIR [RUN_DIR ...] [--out table.md]

For each run, the held-out test block of its speaker cache is played through
other recording chains and "voices" (``audio2mouth.augment.Augmentation``):

- ``clean``: the footage's own audio;
- ``telephone``: 300-3400 Hz band with white noise at 20 dB SNR;
- ``quiet``: 12 dB lower level;
- ``voice_up`` / ``voice_down``: speed perturbation by 1.15 / 0.87, which moves
  pitch and tempo together, a stand-in for another speaker.

Phones are recognized anew from each transformed audio, as speak would do with
an unknown recording; predictions are re-timed back to the footage's frames
(a time t in the original is t / speed in the perturbed audio) and scored
against the truth with the stage's own metrics (``audio2mouth.metrics``). The
network's raw output is scored (no silence gate, no bilabial closure).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from audio2mouth.augment import Augmentation
from audio2mouth.bundle import load_bundle
from audio2mouth.datamodule import resolve_cache
from audio2mouth.inference import run_net
from audio2mouth.metrics import all_metrics
from audio2mouth.timing import steps_to_frames
from landmarks.cache import SpeakerCache
from landmarks.errors import LipsyncError, exit_on_user_error

CONDITIONS = {
    "clean": Augmentation(),
    "telephone": Augmentation(band_limit=True, snr_db=20.0),
    "quiet": Augmentation(gain_db=-12.0),
    "voice_up": Augmentation(speed=1.15),
    "voice_down": Augmentation(speed=0.87),
}


def score_run(run_dir: Path, test_frac: float = 0.2) -> dict[str, dict[str, float]]:
    """{condition: metrics} of one run on the last ``test_frac`` of its cache."""
    model = load_bundle(run_dir)
    results = json.loads((run_dir / "results.json").read_text())
    cache = SpeakerCache(resolve_cache(results["cache"]))
    t0 = (1 - test_frac) * cache.n_frames / cache.fps
    frames = cache.timestamps >= t0
    frame_t = cache.timestamps[frames] - t0
    audio = cache.audio[int(round(t0 * cache.audio_rate)):]
    sp = model.speaker
    out = {}
    for name, aug in CONDITIONS.items():
        heard = aug.apply(audio)
        phones = None
        if model.features.uses_phones:
            from landmarks.phones import recognize

            phones = recognize(heard)
        feats = model.features(heard, phones)
        pred = steps_to_frames(run_net(model, feats), model.features.times(len(feats)), frame_t * aug.time_scale)
        metrics = all_metrics(pred, cache.coeffs[frames], cache.valid[frames], sp.pca, sp.lower_face_indices,
                              cache.transforms[frames], cache.pose_offsets[frames])
        mean_mse = float(((cache.coeffs[frames][cache.valid[frames]] - sp.target_norm.mean) ** 2).mean())
        out[name] = {"mouth_corr": metrics["mouth_corr"], "mouth_std_ratio": metrics["mouth_std_ratio"],
                     "mse_over_mean_predictor": metrics["mse"] / mean_mse}
    return out


def table(scores: dict[str, dict[str, dict[str, float]]]) -> str:
    """Markdown: one row per run, mouth-opening r (and MSE / mean-predictor MSE) per condition."""
    head = "| run | " + " | ".join(f"{c} r (MSE ratio)" for c in CONDITIONS) + " |"
    rows = [head, "|---|" + "---|" * len(CONDITIONS)]
    for run, per in scores.items():
        cells = [f"{per[c]['mouth_corr']:.3f} ({per[c]['mse_over_mean_predictor']:.2f})" for c in CONDITIONS]
        rows.append(f"| {run} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="score audio2mouth runs on transformed held-out audio")
    parser.add_argument("runs", nargs="+", help="trained run directories (with model/ and results.json)")
    parser.add_argument("--out", default=None, help="also write the Markdown table here")
    args = parser.parse_args(argv)
    scores = {}
    for run in args.runs:
        path = Path(run)
        if not (path / "results.json").exists():
            raise LipsyncError(f"not a finished audio2mouth run (no results.json): {path}")
        scores[str(path)] = score_run(path)
    text = table(scores)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()

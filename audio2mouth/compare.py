"""The paper's comparison tables from a multirun directory of audio2mouth runs.

    audio2mouth-compare multirun/audio2mouth/<timestamp> [--out DIR]

Reads every ``results.json`` below the directory, groups runs by model and
writes (to ``--out``, default the multirun directory):

- ``table1.md`` / ``table1.csv``: test MSE, MAE, Int-MSE (and landmark RMSE in
  px, mouth-opening correlation) as mean ± std over seeds;
- ``table2.md`` / ``table2.csv``: median time per training batch (s), total
  training time (min), inference time for one minute of audio (s), model only
  and features + model;
- ``mouth_opening.png``: predicted and true mouth opening over the test block,
  one panel per model (the first seed's run).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import numpy as np

from audio2mouth.metrics import mouth_opening_from_shapes
from landmarks.errors import LipsyncError, exit_on_user_error

ORDER = ["lstm", "bilstm", "tcn", "adv_tcn", "visemes", "viseme_tcn"]
LABELS = {
    "lstm": "time-delayed LSTM",
    "bilstm": "Bi-LSTM",
    "tcn": "non-causal TCN",
    "adv_tcn": "adversarial TCN",
    "visemes": "viseme blend",
    "viseme_tcn": "viseme blend + TCN residual",
}
# (key in results["test"] or at the top level of results.json, column label, format)
TABLE1 = [
    ("mse", "MSE", "{:.5f}"),
    ("mae", "MAE", "{:.4f}"),
    ("int_mse", "Int-MSE", "{:.5f}"),
    ("mse_over_mean_predictor", "MSE / mean-predictor MSE", "{:.3f}"),
    ("lmk_rmse_px", "landmark RMSE (px)", "{:.3f}"),
    ("mouth_corr", "mouth-opening r", "{:.3f}"),
    ("mouth_std_ratio", "opening std ratio", "{:.2f}"),
    ("lip_lmd_over_still", "lip LMD / still mouth", "{:.3f}"),
]
TABLE2 = [
    ("train_batch_s", "train batch (s)", 1.0, "{:.4f}"),
    ("train_total_s", "total train (min)", 1 / 60, "{:.2f}"),
    ("infer_model_s", "inference, 1 min audio, model (s)", 1.0, "{:.4f}"),
    ("infer_total_s", "inference, 1 min audio, features + model (s)", 1.0, "{:.4f}"),
]


def collect(root: str | Path) -> dict[str, list[dict]]:
    """Runs below ``root`` grouped by model name, each with its directory under ``dir``."""
    results = []
    for path in sorted(Path(root).rglob("results.json")):
        result = json.loads(path.read_text())
        result["dir"] = str(path.parent)
        results.append(result)
    if not results:
        raise LipsyncError(f"no results.json below {root} (did the runs finish?)")
    # a sweep over features too (the feature table): one row per model and feature kind
    several = len({r.get("features") for r in results}) > 1
    runs: dict[str, list[dict]] = {}
    for r in results:
        runs.setdefault(f"{r['model']} [{r.get('features')}]" if several else r["model"], []).append(r)

    def order(name: str) -> tuple[int, str]:
        model = name.split(" [")[0]
        return (ORDER.index(model) if model in ORDER else 99, name)

    return dict(sorted(runs.items(), key=lambda kv: order(kv[0])))


def _label(name: str) -> str:
    model, _, rest = name.partition(" [")
    return LABELS.get(model, model) + (f" [{rest}" if rest else "")


def _value(run: dict, key: str) -> float:
    return float(run["test"].get(key, run.get(key, np.nan)))


def _mean_std(values: list[float], fmt: str) -> str:
    arr = np.asarray(values, dtype=np.float64)
    return f"{fmt.format(arr.mean())} ± {fmt.format(arr.std(ddof=1) if len(arr) > 1 else 0.0)}"


def build_tables(runs: dict[str, list[dict]]) -> tuple[list[list[str]], list[list[str]]]:
    """Rows (header first) of Table I and Table II."""
    t1 = [["model", "seeds"] + [label for _, label, _ in TABLE1]]
    t2 = [["model", "seeds"] + [label for _, label, _, _ in TABLE2]]
    for model, rs in runs.items():
        name = _label(model)
        t1.append([name, str(len(rs))] + [_mean_std([_value(r, key) for r in rs], fmt) for key, _, fmt in TABLE1])
        t2.append(
            [name, str(len(rs))]
            + [_mean_std([r[key] * scale for r in rs], fmt) for key, _, scale, fmt in TABLE2]
        )
    return t1, t2


def to_markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_csv(path: Path, rows: list[list[str]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    os.replace(tmp, path)


def plot_mouth(runs: dict[str, list[dict]], path: Path) -> None:
    """One panel per model: true vs predicted inner-lip gap over the test block (first seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(runs), 1, figsize=(10, 2.2 * len(runs)), sharex=True, squeeze=False
    )
    for ax, (model, rs) in zip(axes[:, 0], runs.items(), strict=True):
        run = min(rs, key=lambda r: r["seed"])
        with np.load(Path(run["dir"]) / "test_predictions.npz", allow_pickle=False) as d:
            basis, mean, idx = d["pca_components"], d["pca_mean"], d["lower_face"]
            p = d["lower_face"].size
            pose = d["pose_offsets"] if "pose_offsets" in d.files else 0.0  # speak adds the frame's pose part
            opening = {
                k: mouth_opening_from_shapes((d[k] @ basis + mean).reshape(-1, p, 2) + pose, idx)
                for k in ("true", "pred")
            }
            t = d["frame_times"]
        ax.plot(t, opening["true"], color="k", lw=1.2, label="ground truth")
        ax.plot(t, opening["pred"], color="tab:red", lw=1.0, label="predicted")
        ax.set_title(f"{_label(model)} (seed {run['seed']})", fontsize=9)
        ax.set_ylabel("mouth opening")
    axes[-1, 0].set_xlabel("time (s)")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def compare(root: str | Path, out: str | Path | None = None) -> dict[str, str]:
    """Write both tables (Markdown + CSV) and the plot; returns {'table1': md, 'table2': md}."""
    runs = collect(root)
    out = Path(out or root)
    out.mkdir(parents=True, exist_ok=True)
    t1, t2 = build_tables(runs)
    md = {"table1": to_markdown(t1), "table2": to_markdown(t2)}
    for name, rows in (("table1", t1), ("table2", t2)):
        _write(out / f"{name}.md", md[name])
        write_csv(out / f"{name}.csv", rows)
    plot_mouth(runs, out / "mouth_opening.png")
    return md


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Tables I and II from an audio2mouth multirun")
    parser.add_argument("multirun_dir")
    parser.add_argument("--out", default=None, help="output directory (default: multirun_dir)")
    args = parser.parse_args(argv)
    if not Path(args.multirun_dir).is_dir():
        raise LipsyncError(f"not a directory: {args.multirun_dir}")
    md = compare(args.multirun_dir, args.out)
    print("Table I (test block)\n" + md["table1"] + "\nTable II (speed)\n" + md["table2"])


if __name__ == "__main__":
    main()

"""Figures for the report: training curves, mouth opening over time, frame strips."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def read_metrics_csv(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Lightning CSVLogger metrics -> {metric: (steps, values)}, skipping empty cells."""
    series: dict[str, tuple[list, list]] = {}
    with open(path) as fh:
        for row in csv.DictReader(fh):
            for key, value in row.items():
                if key in ("epoch", "step") or value in ("", None):
                    continue
                steps, values = series.setdefault(key, ([], []))
                steps.append(int(row["step"]))
                values.append(float(value))
    return {k: (np.array(s), np.array(v)) for k, (s, v) in series.items()}


def plot_curves(csv_path: Path, keys: list[str], title: str, out: Path) -> Path | None:
    """One panel per metric in ``keys`` found in the CSV; None when nothing was logged."""
    series = read_metrics_csv(csv_path)
    present = [k for k in keys if k in series]
    if not present:
        return None
    fig, axes = plt.subplots(1, len(present), figsize=(3.2 * len(present), 2.6), squeeze=False)
    for ax, key in zip(axes[0], present, strict=True):
        steps, values = series[key]
        ax.plot(steps, values, marker="." if len(steps) < 30 else None)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_opening(pred: list[float], true: list[float], fps: float, out: Path,
                 truth_label: str = "ground truth") -> Path:
    """Predicted (rendered, re-detected) and true relative mouth opening over time."""
    t = np.arange(len(pred)) / fps
    fig, ax = plt.subplots(figsize=(9, 2.6))
    ax.plot(t, true, label=truth_label, color="black", linewidth=1)
    ax.plot(t, pred, label="rendered", color="tab:red", linewidth=1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("inner-lip gap / mouth width")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def save_strip(rows: list[np.ndarray], out: Path) -> Path:
    """Stack (S, 3S, 3) uint8 RGB rows (ground truth | face map | rendered) into one PNG."""
    import cv2

    image = np.concatenate(rows, axis=0)
    cv2.imwrite(str(out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return out

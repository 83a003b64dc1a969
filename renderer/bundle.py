"""A trained renderer on disk: ``renderer.pt`` (generator state_dict) + ``renderer.yaml``.

The weights are a plain ``torch.save(state_dict)`` read back with
``torch.load(weights_only=True)``, the config plain YAML read with
``yaml.safe_load``: loading a renderer never unpickles arbitrary objects, and
the generator may only be built from classes of ``renderer.components``.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch
import yaml
from hydra.utils import instantiate
from torch import nn

from landmarks.errors import LipsyncError

WEIGHTS = "renderer.pt"
CONFIG = "renderer.yaml"
FORMAT = "anchor-lipsync/renderer"
FORMAT_VERSION = 1
_ALLOWED_TARGET_PREFIX = "renderer.components."


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def save_renderer(run_dir: str | Path, generator: nn.Module, config: dict) -> Path:
    """Write the generator's weights and config (each via a temporary file and rename).

    ``config`` needs ``generator`` (its ``_target_`` node, with ``in_channels``),
    ``crop_size`` and ``use_reference``; anything else (face-map parameters,
    metrics, the cache it was trained on) is kept for the record.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in generator.state_dict().items()}
    _atomic_write(run_dir / WEIGHTS, lambda p: torch.save(state, p))
    record = {"format": FORMAT, "format_version": FORMAT_VERSION, **config}
    _atomic_write(run_dir / CONFIG, lambda p: p.write_text(yaml.safe_dump(record, sort_keys=False)))
    return run_dir


def read_config(run_dir: str | Path) -> dict:
    """The validated ``renderer.yaml`` of a run directory."""
    run_dir = Path(run_dir)
    path = run_dir / CONFIG
    if not run_dir.is_dir():
        raise LipsyncError(f"renderer run directory not found: {run_dir}")
    if not path.exists() or not (run_dir / WEIGHTS).exists():
        raise LipsyncError(f"not a trained renderer (needs {CONFIG} and {WEIGHTS}): {run_dir}")
    try:
        config = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise LipsyncError(f"unreadable renderer config {path}: {err.__class__.__name__}") from err
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise LipsyncError(f"{path} is not a renderer config (format tag missing or foreign)")
    if config.get("format_version") != FORMAT_VERSION:
        raise LipsyncError(
            f"{path} has format version {config.get('format_version')}, "
            f"this code reads {FORMAT_VERSION}"
        )
    for key in ("generator", "crop_size", "use_reference"):
        if key not in config:
            raise LipsyncError(f"{path} lacks {key!r}")
    target = (
        str(config["generator"].get("_target_", ""))
        if isinstance(config["generator"], dict)
        else ""
    )
    if not target.startswith(_ALLOWED_TARGET_PREFIX):
        raise LipsyncError(f"{path}: generator {target!r} is not a renderer component")
    return config


def load_generator(
    run_dir: str | Path, crop_size: int | None = None, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict]:
    """Build the generator of a run directory and load its weights; returns (eval module, config).

    Raises :class:`LipsyncError` when ``crop_size`` differs from the checkpoint's,
    or the files are corrupted, truncated or from another model.
    """
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if crop_size is not None and int(config["crop_size"]) != int(crop_size):
        raise LipsyncError(
            f"renderer {run_dir} was trained on {config['crop_size']} px crops, "
            f"but {crop_size} px were requested"
        )
    try:
        generator = instantiate(config["generator"])
    except Exception as err:  # a hand-edited config: report it as bad input
        raise LipsyncError(f"cannot build the generator of {run_dir}: {err}") from err
    try:
        state = torch.load(run_dir / WEIGHTS, map_location="cpu", weights_only=True)
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
    ) as err:
        raise LipsyncError(
            f"corrupted renderer weights {run_dir / WEIGHTS}: {err.__class__.__name__}"
        ) from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise LipsyncError(f"{run_dir / WEIGHTS} is not a state_dict of tensors")
    try:
        generator.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0:2]
        raise LipsyncError(
            f"weights in {run_dir / WEIGHTS} do not fit the configured generator: {' '.join(first)}"
        ) from err
    return generator.to(device).eval(), config

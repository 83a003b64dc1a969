"""Shared test fixtures: where the repo, its configs and the real footage are."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONF_DIR = REPO / "conf"
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


def shared_clip(name: str) -> Path:
    """Path of a real clip in ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real footage not available: {path} not found (see ../shared/data/README.md)")
    return path


@pytest.fixture(name="shared_clip")
def shared_clip_fixture():
    """``shared_clip(name)``: path of a real clip, or skip with the reason."""
    return shared_clip


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    """A short synthetic anchor (12 s), generated once per test session."""
    from landmarks.synthetic import make_sample

    out = tmp_path_factory.mktemp("sample")
    make_sample(out, duration_s=12.0, seed=1)
    return out

"""studio: a local web page where an editor types the bulletin and gets the anchor video.

    lipsync-studio bundles_dir=bundles [port=7860] [host=127.0.0.1] [max_upload_mb=200]

Lists the speaker bundles in ``bundles_dir``, takes text (espeak-ng) or an
uploaded audio file, optionally a template clip and start time, and renders
through ``lipsync-speak``'s own code (``pipeline.studio_render``), one job at a
time (``pipeline.studio_jobs``). The server is the standard library's
(``pipeline.studio_server``); the page is plain HTML + JS
(``pipeline/studio_page.html``). It listens on the loopback address only unless
``allow_remote=true``: then anyone who reaches the port can render, with no
password.
"""

from __future__ import annotations

import errno
import ipaddress
import signal
from pathlib import Path

import hydra
from omegaconf import DictConfig

from landmarks.errors import LipsyncError, exit_on_user_error
from landmarks.prepare import ensure_writable, required
from pipeline.studio_app import Studio
from pipeline.studio_bundles import BundleShelf
from pipeline.studio_jobs import RenderQueue
from pipeline.studio_render import SpeakRenderer, check_upload
from pipeline.studio_server import StudioServer

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse a non-loopback address unless ``allow_remote``; warn loudly when it is allowed."""
    if is_loopback(host):
        return
    if not allow_remote:
        raise LipsyncError(f"host={host} would let anyone on the network render with no password; "
                           "add allow_remote=true to do that on purpose")
    print(f"WARNING: listening on {host}: anyone who can reach this port can list the bundles, upload files and "
          "render videos on this machine, with no authentication. Use it only on a network you trust.")


def build(cfg: DictConfig) -> StudioServer:
    """The server for ``cfg`` (bound, worker started, not yet serving); ``port=0`` picks a free port."""
    bundles_dir = Path(required(cfg, "bundles_dir")).expanduser()
    if not bundles_dir.is_dir():
        raise LipsyncError(f"bundles_dir is not a folder: {bundles_dir}")
    out_dir = Path(required(cfg, "out_dir")).expanduser()
    ensure_writable(out_dir)
    for stale in out_dir.glob(".*.rendering*"):  # left by a studio that was killed mid-render
        stale.unlink(missing_ok=True)
    host, allow_remote = str(cfg.host), bool(cfg.allow_remote)
    check_host(host, allow_remote)
    speak_overrides = cfg.get("speak") or []
    speak_overrides = [speak_overrides] if isinstance(speak_overrides, str) else [str(o) for o in speak_overrides]
    shelf = BundleShelf(bundles_dir)
    renderer = SpeakRenderer(shelf, out_dir, Path(str(cfg.paths.cache_dir)).expanduser(), speak_overrides)
    jobs = RenderQueue(renderer, int(cfg.history), warm_up=renderer.warm_up)
    allowed = None if allow_remote else LOOPBACK_NAMES | {host}
    studio = Studio(shelf, jobs, out_dir / ".uploads", int(float(cfg.max_upload_mb) * 2**20),
                    int(cfg.max_text_chars), allowed, check_upload, renderer.takes_transcript)
    try:
        server = StudioServer(host, int(cfg.port), studio)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise LipsyncError(f"port {cfg.port} is in use; choose another with port=") from err
        raise LipsyncError(f"cannot listen on {host}:{cfg.port}: {err.strerror or err}") from err
    jobs.start()
    return server


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def close(server: StudioServer) -> None:
    server.server_close()
    server.studio.close(timeout=60)


@exit_on_user_error
def run(cfg: DictConfig) -> None:
    server = build(cfg)
    names = [e.name for e in server.studio.shelf.entries()]
    print(f"{len(names)} bundle(s) in {server.studio.shelf.root}: {', '.join(names) or 'none yet'}")
    print(f"renders go to {Path(str(cfg.out_dir)).resolve()}")
    print(f"newsroom studio: {server.url}  (Ctrl-C stops it)", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("stopping (a running render ends at its next frame)")
    finally:
        close(server)


@hydra.main(config_path="../conf", config_name="studio", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()

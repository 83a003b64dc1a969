"""The newsroom page's HTTP server: the standard library's ThreadingHTTPServer, JSON endpoints, no framework.

=========================================  ===========================================================
GET  /                                     the page (``studio_page.html``, plain HTML + JS)
GET  /api/bundles                          bundles in ``bundles_dir`` (name, footage, metrics, still)
GET  /api/bundles/NAME/still.jpg           first frame of the bundle's footage
POST /api/upload?kind=audio|template&name  raw file body, at most ``max_upload_mb``; returns a token
POST /api/render                           JSON {bundle, text | audio token, template token, template_start_s}
GET  /api/jobs, /api/jobs/ID               this session's renders / one render: state, place in queue, progress
GET  /renders/ID.mp4[?download=1]          a finished render (byte ranges, for the video element)
=========================================  ===========================================================

Every refusal is ``{"error": "<one line>"}`` with a 4xx status. POSTs must carry the
``X-Studio`` header (a page on another site cannot send it without a CORS
preflight, which this server never grants), and unless the server was started with
``allow_remote=true`` the Host header must name this machine's loopback address
(so a rebinding DNS name cannot reach it from a browser either).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from landmarks.errors import LipsyncError
from pipeline.studio_app import Studio, Upload

CHUNK = 1 << 20  # bytes per read/write when streaming files
DRAIN = 64 << 20  # a body at most this much over the limit is read and dropped before the 413; larger: reset


class Handler(BaseHTTPRequestHandler):
    server_version = "lipsync-studio"
    protocol_version = "HTTP/1.1"
    server: StudioServer

    def log_message(self, format: str, *args) -> None:  # the worker prints what matters; polling would flood
        pass

    @property
    def studio(self) -> Studio:
        return self.server.studio

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        if not self._host_ok():
            return
        try:
            if path == "/":
                self._send(200, self.studio.page, "text/html; charset=utf-8")
            elif path == "/api/bundles":
                self._json(200, self.studio.bundles())
            elif m := re.fullmatch(r"/api/bundles/([^/]+)/still\.jpg", path):
                self._send(200, self.studio.shelf.still(m[1]), "image/jpeg")
            elif path == "/api/jobs":
                self._json(200, {"jobs": [self.studio.status(job) for job in self.studio.jobs.jobs()]})
            elif m := re.fullmatch(r"/api/jobs/(\d+)", path):
                self._json(200, self.studio.status(self.studio.job(int(m[1]))))
            elif m := re.fullmatch(r"/renders/(\d+)\.mp4", path):
                self._file(self.studio.output(int(m[1])), download="download" in query)
            elif path == "/favicon.ico":
                self._send(204, b"", "image/x-icon")
            else:
                self._json(404, {"error": f"no such page: {path}"})
        except LipsyncError as err:
            self._json(404 if path.startswith(("/renders/", "/api/jobs/")) else 400, {"error": str(err)})
        except Exception as err:
            self._internal_error(err)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if not self._host_ok():
            return
        if not self.headers.get("X-Studio"):
            self._json(403, {"error": "requests must come from the studio page (X-Studio header missing)"}, close=True)
            return
        try:
            if url.path == "/api/upload":
                self._upload(parse_qs(url.query))
            elif url.path == "/api/render":
                job = self.studio.submit(self._read_json())
                self._json(202, self.studio.status(job))
            else:
                self._json(404, {"error": f"no such endpoint: {url.path}"}, close=True)
        except TooLarge as err:
            self._json(413, {"error": str(err)}, close=True)
        except LipsyncError as err:  # the body may be unread: this connection is not reused
            self._json(400, {"error": str(err)}, close=True)
        except Exception as err:
            self._internal_error(err)

    # -- helpers -------------------------------------------------------------------------------------------

    def _internal_error(self, err: Exception) -> None:
        """One line for the page, the traceback for the server's console."""
        traceback.print_exc()
        self._json(500, {"error": f"internal error ({type(err).__name__}: {err}); see the server's console"},
                   close=True)

    def _host_ok(self) -> bool:
        host = (self.headers.get("Host") or "").strip().lower()
        name = host[1 : host.index("]")] if host.startswith("[") and "]" in host else host.rsplit(":", 1)[0]
        if self.studio.allowed_hosts is None or name in self.studio.allowed_hosts:
            return True
        self._json(403, {"error": f"this studio answers only on {sorted(self.studio.allowed_hosts)}"}, close=True)
        return False

    def _length(self, limit: int) -> int:
        raw = self.headers.get("Content-Length")
        if raw is None or not raw.isdigit():
            self.close_connection = True
            raise LipsyncError("the request has no Content-Length")
        length = int(raw)
        if length > limit:
            if length - limit <= DRAIN:  # read and drop it, so the client gets the answer rather than a reset
                while length > 0 and (block := self.rfile.read(min(CHUNK, length))):
                    length -= len(block)
            self.close_connection = True
            raise TooLarge(f"the request is {int(raw) / 2**20:.1f} MB; the limit is {limit / 2**20:.3g} MB")
        return length

    def _read_json(self) -> dict:
        body = self.rfile.read(self._length(1 << 20))
        try:
            data = json.loads(body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise LipsyncError(f"the request is not JSON ({err.__class__.__name__})") from err
        if not isinstance(data, dict):
            raise LipsyncError("the request must be a JSON object")
        return data

    def _upload(self, query: dict) -> None:
        kind = (query.get("kind") or [""])[0]
        name = Path((query.get("name") or ["upload"])[0].replace("\\", "/")).name or "upload"
        if kind not in ("audio", "template"):
            raise LipsyncError("kind must be audio or template")
        try:
            length = self._length(self.studio.max_upload_bytes)
        except TooLarge:
            raise TooLarge(f"{name} is {int(self.headers['Content-Length']) / 2**20:.1f} MB; the limit is "
                           f"{self.studio.max_upload_bytes / 2**20:.3g} MB (max_upload_mb=)") from None
        if length == 0:
            raise LipsyncError(f"{name} is empty")
        suffix = re.sub(r"[^a-z0-9.]", "", Path(name).suffix.lower())[:12]
        token = secrets.token_hex(8)
        self.studio.uploads_dir.mkdir(parents=True, exist_ok=True)
        part, final = self.studio.uploads_dir / f".{token}.part", self.studio.uploads_dir / f"{token}{suffix}"
        try:
            with open(part, "wb") as sink:
                left = length
                while left > 0 and (block := self.rfile.read(min(CHUNK, left))):
                    sink.write(block)
                    left -= len(block)
            if left > 0:
                self.close_connection = True
                raise LipsyncError(f"the upload of {name} was cut off")
            os.replace(part, final)
            self.studio.check_upload(final, kind, name)
        except BaseException:
            part.unlink(missing_ok=True)
            final.unlink(missing_ok=True)
            raise
        self.studio.add_upload(token, Upload(final, kind, name))
        self._json(200, {"upload": token, "name": name, "size": length})

    def _send(self, status: int, body: bytes, ctype: str, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: dict, close: bool = False) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", close or self.close_connection)

    def _file(self, path: Path, download: bool) -> None:
        """Send ``path`` (video/mp4), honouring one ``Range: bytes=a-b`` as the video element asks."""
        size = path.stat().st_size
        start, end, status = 0, size - 1, 200
        if m := re.fullmatch(r"bytes=(\d*)-(\d*)", (self.headers.get("Range") or "").strip()):
            if m[1]:
                start, end = int(m[1]), min(int(m[2]) if m[2] else size - 1, size - 1)
            elif m[2]:
                start = max(0, size - int(m[2]))
            if start > end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        if download:
            self.send_header("Content-Disposition", f'attachment; filename="{path.name}"')
        self.end_headers()
        try:
            with open(path, "rb") as source:
                source.seek(start)
                left = end - start + 1
                while left > 0 and (block := source.read(min(CHUNK, left))):
                    self.wfile.write(block)
                    left -= len(block)
        except (BrokenPipeError, ConnectionResetError):  # the video element often drops a request midway
            self.close_connection = True


class TooLarge(LipsyncError):
    """A request body over the limit (answered with 413, the body left unread)."""


class StudioServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, studio: Studio):
        import socket

        self.studio = studio
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

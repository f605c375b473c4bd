"""A stand-in for the assets' origins on 127.0.0.1, and stand-in assets to serve.

The real files cannot be had on the build machine, and their hashes are pinned, so tests swap
the pinned table's entries for stand-ins (same file names and handle, small generated contents,
their own md5) and reach the server through the mirror setting, as a cluster with a mirror
would. The server can cut a response off half-way, delay it, and counts the requests per path.

PYTEST_DONT_REWRITE: this module asserts nothing, and test modules import it before pytest loads
it as their plugin (pytest_plugins), which would otherwise warn that it cannot rewrite it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import socket
import tarfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ganime_core import assets


@dataclass
class AssetServer:
    """Serves `files` (URL path -> bytes) on 127.0.0.1; paths in `cut_off` get their full
    Content-Length but only half the bytes; every response waits `delay` seconds first."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut_off: set[str] = field(default_factory=set)
    delay: float = 0.0
    requests: Counter[str] = field(default_factory=Counter)
    queries: list[str] = field(default_factory=list)

    def start(self) -> AssetServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def serve(self, path: str, content: bytes) -> str:
        """Serve `content` at `path` ('/name'); returns its URL."""
        self.files[path] = content
        return f"{self.url}{path}"


def _handler_for(server: AssetServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parts = urlsplit(self.path)
            server.requests[parts.path] += 1
            server.queries.append(parts.query)
            time.sleep(server.delay)
            content = server.files.get(parts.path)
            if content is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if parts.path in server.cut_off:
                self.wfile.write(content[: len(content) // 2])
                self.close_connection = True
                return
            self.wfile.write(content)

        def log_message(self, *args: object) -> None:  # the test output stays readable
            pass

    return Handler


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: a mirror that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def stand_in_bytes(name: str, size: int = 64 * 1024) -> bytes:
    """Deterministic pseudo-random contents for a stand-in file."""
    blocks = (hashlib.sha256(f"{name}/{i}".encode()).digest() for i in range(size // 32 + 1))
    return b"".join(blocks)[:size]


def pin_stand_in(monkeypatch: pytest.MonkeyPatch, name: str, content: bytes) -> assets.KerasFile:
    """Make `content` the pinned file of Keras asset `name` (its md5 in the table)."""
    stand_in = dataclasses.replace(assets.ASSETS[name], md5=hashlib.md5(content).hexdigest())
    monkeypatch.setitem(assets.ASSETS, name, stand_in)
    return stand_in


def tar_gz(folder: Path) -> bytes:
    """`folder`'s files at the archive's top level, as TF Hub's compressed models are."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(folder.rglob("*")):
            archive.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    return buffer.getvalue()


def fake_saved_model(folder: Path) -> Path:
    """A folder shaped like a SavedModel (saved_model.pb, variables/) with made-up bytes: enough
    for everything but loading it."""
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(stand_in_bytes("saved_model.pb", 4096))
    (folder / "variables" / "variables.index").write_bytes(stand_in_bytes("index", 512))
    (folder / "variables" / "variables.data-00000-of-00001").write_bytes(stand_in_bytes("data"))
    return folder


def stylization_saved_model(folder: Path) -> Path:
    """A tiny SavedModel called like the magenta arbitrary-image-stylization-v1-256 model, as its
    TF Hub page and tutorial use it: `outputs = model(content, style)`, float32 [1, h, w, 3]
    content and [1, 256, 256, 3] style images in [0, 1], `outputs[0]` the stylized image. The
    stand-in pulls the content towards the style's mean colour."""
    # Imported here: only the slow test that loads the model needs TensorFlow.
    import tensorflow as tf

    class Stylization(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.strength = tf.Variable(0.5)

        @tf.function(
            input_signature=[
                tf.TensorSpec([1, None, None, 3], tf.float32),
                tf.TensorSpec([1, 256, 256, 3], tf.float32),
            ]
        )
        def __call__(self, content: tf.Tensor, style: tf.Tensor) -> list[tf.Tensor]:
            palette = tf.reduce_mean(style, axis=[1, 2], keepdims=True)
            return [content + self.strength * (palette - content)]

    tf.saved_model.save(Stylization(), str(folder))
    return folder


@dataclass(frozen=True)
class Caches:
    keras_models: Path  # Keras' cache folder for weights ($KERAS_HOME/models)
    hub: Path  # TF Hub's cache ($TFHUB_CACHE_DIR)


@pytest.fixture
def asset_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Caches:
    """Private Keras and TF Hub caches; no mirror from the environment; TF Hub's progress line
    on, as `ganime assets fetch` turns it on (set here, so it is unset again after the test)."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "tfhub"))
    monkeypatch.setenv("TFHUB_DOWNLOAD_PROGRESS", "1")
    monkeypatch.delenv(assets.MIRROR_ENV, raising=False)
    return Caches(tmp_path / "keras" / "models", tmp_path / "tfhub")


@pytest.fixture
def asset_server() -> Iterator[AssetServer]:
    server = AssetServer().start()
    yield server
    server.stop()

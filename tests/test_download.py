"""The archive download, against a loopback HTTP server only: cache, resume, checksum, errors, CLI."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_archive

from edge_sentiment.cli import main
from edge_sentiment.data import ARCHIVE_NAME, DATA_ENV, load_imdb, resolve_data_path
from edge_sentiment.download import (
    BYTES_ENV,
    SHA256_ENV,
    TIMEOUT_ENV,
    URL_ENV,
    archive_path,
    cached_archive,
    download_archive,
    resolve_or_download,
)
from edge_sentiment.errors import DataError

TIMEOUT = 0.5
Serve = Callable[..., "Behaviour"]  # serve(**Behaviour fields) starts a server and returns its Behaviour


@dataclass
class Behaviour:
    """What the fake server does: cut the first answer after some bytes, ignore Range, fail, or stall."""

    cut_first_at: int | None = None
    honour_range: bool = True
    status: int = 200
    stall: bool = False
    ranges: list[str | None] = field(default_factory=list)  # the Range header of every request, in order


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, payload: bytes, behaviour: Behaviour) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.payload = payload
        self.behaviour = behaviour
        self.release = threading.Event()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that went away mid-answer is what several tests do on purpose


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        srv, how = self.server, self.server.behaviour
        asked = self.headers.get("Range")
        how.ranges.append(asked)
        if how.stall:
            srv.release.wait(10)  # longer than the client's timeout; released at teardown
            return
        if how.status != 200:
            self.send_error(how.status)
            return
        start = int(asked.removeprefix("bytes=").rstrip("-")) if asked and how.honour_range else 0
        body = srv.payload[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(srv.payload) - 1}/{len(srv.payload)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if how.cut_first_at is not None and len(how.ranges) == 1:
            body = body[: how.cut_first_at]  # then the connection closes (HTTP/1.0), short of Content-Length
        self.wfile.write(body)


@pytest.fixture
def payload(tmp_path: Path) -> bytes:
    """A tiny aclImdb archive (a few KB) that load_imdb can read."""
    return make_archive(tmp_path / "source.tar.gz").read_bytes()


@pytest.fixture
def env(tmp_path: Path, payload: bytes, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The cache in tmp_path, the tiny archive's checksum and size, a short timeout; returns the cache folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv(SHA256_ENV, hashlib.sha256(payload).hexdigest())
    monkeypatch.setenv(BYTES_ENV, str(len(payload)))
    monkeypatch.setenv(TIMEOUT_ENV, str(TIMEOUT))
    monkeypatch.setenv(URL_ENV, "http://127.0.0.1:9/unset")  # replaced by serve(); never contacted
    monkeypatch.delenv(DATA_ENV, raising=False)
    return tmp_path / "cache" / "edge-sentiment"


@pytest.fixture
def serve(env: Path, payload: bytes, monkeypatch: pytest.MonkeyPatch) -> Iterator[Serve]:
    """Start a loopback server with the given behaviour and point EDGE_SENTIMENT_DATA_URL at it."""
    servers: list[_Server] = []

    def start(**kwargs: object) -> Behaviour:
        behaviour = Behaviour(**kwargs)  # type: ignore[arg-type]
        server = _Server(payload, behaviour)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        monkeypatch.setenv(URL_ENV, f"http://127.0.0.1:{server.server_port}/{ARCHIVE_NAME}")
        return behaviour

    yield start
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()


def _cache_files(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_download_verifies_and_caches(serve: Serve, env: Path, payload: bytes) -> None:
    server = serve()
    seen: list[tuple[int, int]] = []
    first = download_archive(progress=lambda done, total: seen.append((done, total)))
    assert first.downloaded and first.path == env / ARCHIVE_NAME == archive_path()
    assert first.path.read_bytes() == payload
    assert (first.bytes, first.sha256) == (len(payload), hashlib.sha256(payload).hexdigest())
    assert seen[0] == (0, len(payload)) and seen[-1] == (len(payload), len(payload))
    assert _cache_files(env) == [ARCHIVE_NAME]  # no .part left
    again = download_archive()
    assert not again.downloaded and again.path == first.path
    assert len(server.ranges) == 1  # the second call asked the server nothing
    assert len(load_imdb(first.path)["test"]) > 0


def test_a_cut_connection_is_resumed_with_a_range_request(serve: Serve, env: Path, payload: bytes) -> None:
    cut = len(payload) // 2
    server = serve(cut_first_at=cut)
    result = download_archive()
    assert result.downloaded and result.path.read_bytes() == payload
    assert server.ranges == [None, f"bytes={cut}-"]


def test_a_cut_with_no_retries_left_keeps_the_part_and_the_next_run_resumes(serve: Serve, env: Path, payload: bytes) -> None:
    cut = len(payload) // 3
    server = serve(cut_first_at=cut)
    with pytest.raises(DataError, match="run the command again to resume") as exc:
        download_archive(attempts=1)
    assert f"{cut} of {len(payload)} bytes" in str(exc.value)
    assert _cache_files(env) == [ARCHIVE_NAME + ".part"]  # never the final name for a partial file
    assert cached_archive() is None
    with pytest.raises(DataError, match="edge-sentiment data download"):
        resolve_data_path(None)  # a .part is not data
    assert download_archive().path.read_bytes() == payload
    assert server.ranges == [None, f"bytes={cut}-"]


def test_a_server_that_ignores_range_makes_it_start_over(serve: Serve, env: Path, payload: bytes) -> None:
    server = serve(cut_first_at=100, honour_range=False)
    assert download_archive().path.read_bytes() == payload
    assert server.ranges == [None, "bytes=100-"]


def test_a_wrong_checksum_is_refused_and_nothing_is_left(serve: Serve, env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serve()
    monkeypatch.setenv(SHA256_ENV, "0" * 64)
    with pytest.raises(DataError, match="sha256") as exc:
        download_archive()
    assert "removed" in str(exc.value) and "0" * 64 in str(exc.value)
    assert _cache_files(env) == []


def test_a_wrong_size_is_refused_before_writing(serve: Serve, env: Path, payload: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    serve()
    monkeypatch.setenv(BYTES_ENV, str(len(payload) + 1))
    with pytest.raises(DataError, match=f"offers a file of {len(payload)} bytes"):
        download_archive()
    assert not archive_path().exists()


def test_a_wrong_file_in_the_cache_is_reported_then_replaced(serve: Serve, env: Path, payload: bytes) -> None:
    server = serve()
    env.mkdir(parents=True)
    archive_path().write_bytes(b"x" * len(payload))
    with pytest.raises(DataError, match="not the IMDB archive"):
        cached_archive()
    assert download_archive().path.read_bytes() == payload
    assert len(server.ranges) == 1


def test_404_is_a_clear_error(serve: Serve, env: Path) -> None:
    serve(status=404)
    with pytest.raises(DataError, match="HTTP 404") as exc:
        download_archive()
    assert str(archive_path()) in str(exc.value)
    assert _cache_files(env) == []


def test_a_stalled_server_times_out_with_a_clear_error(serve: Serve, env: Path) -> None:
    serve(stall=True)
    started = time.monotonic()
    with pytest.raises(DataError, match="run the command again to resume") as exc:
        download_archive()
    assert time.monotonic() - started < 5 * TIMEOUT
    assert TIMEOUT_ENV in str(exc.value)


def test_offline_names_where_to_put_the_file_by_hand(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(URL_ENV, f"http://127.0.0.1:{port}/{ARCHIVE_NAME}")
    with pytest.raises(DataError, match="cannot reach") as exc:
        download_archive()
    message = str(exc.value)
    for piece in (f"http://127.0.0.1:{port}/{ARCHIVE_NAME}", str(archive_path()), "--data", DATA_ENV):
        assert piece in message


def test_cli_data_download_json(serve: Serve, env: Path, payload: bytes) -> None:
    server = serve()
    runner = CliRunner()
    first = runner.invoke(main, ["data", "download", "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report == {
        "path": str(env / ARCHIVE_NAME),
        "bytes": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "downloaded": True,
    }
    second = runner.invoke(main, ["data", "download", "--json"])
    assert json.loads(second.stdout) == {**report, "downloaded": False}
    assert len(server.ranges) == 1
    shown = runner.invoke(main, ["data", "path"])
    assert shown.exit_code == 0 and shown.stdout.strip() == report["path"]


def test_cli_errors_are_one_line_without_traceback(serve: Serve, env: Path) -> None:
    serve(status=404)
    result = CliRunner().invoke(main, ["data", "download"])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "HTTP 404" in result.output and "Traceback" not in result.output
    missing = CliRunner().invoke(main, ["data", "path"])
    assert missing.exit_code == 1 and "edge-sentiment data download" in missing.output


def test_without_data_or_env_the_cache_is_used(serve: Serve, env: Path, payload: bytes) -> None:
    server = serve()
    with pytest.raises(DataError, match="edge-sentiment data download"):
        resolve_data_path(None)  # evaluate and export never download
    assert server.ranges == []
    said: list[str] = []
    assert resolve_or_download(None, log=said.append) == archive_path()  # train does, once
    assert any("downloading" in line for line in said)
    assert resolve_or_download(None) == resolve_data_path(None) == archive_path()
    assert len(server.ranges) == 1
    assert len(load_imdb()["train"]) > 0


def test_data_and_env_come_before_the_cache(serve: Serve, env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve()
    given = make_archive(tmp_path / "given.tar.gz")
    assert resolve_or_download(given) == given
    monkeypatch.setenv(DATA_ENV, str(given))
    assert resolve_or_download(None) == given
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "missing.tar.gz"))
    with pytest.raises(DataError, match="not found"):
        resolve_or_download(None)  # a wrong $EDGE_SENTIMENT_DATA is an error, not a reason to download
    assert server.ranges == []


@pytest.mark.parametrize(
    "name, value", [(URL_ENV, "ftp://example.invalid/x"), (SHA256_ENV, "abc"), (BYTES_ENV, "0"), (TIMEOUT_ENV, "soon")]
)
def test_bad_overrides_are_named(env: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(DataError, match=name):
        download_archive()

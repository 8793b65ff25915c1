"""The programs in examples/, run as a user runs them: as subprocesses, on the tiny committed bundle."""

from __future__ import annotations

import ast
import json
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import pytest
from conftest import ASSETS, NEGATIVE, POSITIVE, ROOT

from edge_sentiment import Predictor

EXAMPLES = ROOT / "examples"
TINY = ASSETS / "tiny_bundle"
TIMEOUT = 60  # seconds for any one subprocess or request: a hang fails the test, never the suite


def run_example(name: str, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    """Run examples/<name> on the tiny bundle; stdin is given as bytes, the output read as UTF-8."""
    cmd = [sys.executable, str(EXAMPLES / name), "--bundle", str(TINY), *args]
    done = subprocess.run(cmd, input=stdin, capture_output=True, timeout=TIMEOUT, cwd=ROOT)
    return subprocess.CompletedProcess(cmd, done.returncode, done.stdout.decode(), done.stderr.decode())


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor.load(TINY, threads=1)


# -- all examples --------------------------------------------------------------------------------

EXAMPLE_FILES = ["minimal.py", "score_file.py", "http_server.py"]


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_imports_only_the_public_api_and_the_standard_library(name: str) -> None:
    tree = ast.parse((EXAMPLES / name).read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{name} should say what it is for"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] in sys.stdlib_module_names, f"{name} imports {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            if node.module == "edge_sentiment":
                assert {a.name for a in node.names} <= {"Predictor", "EdgeSentimentError", "InputError"}, (
                    f"{name} imports more than Predictor and its errors"
                )
            else:
                assert node.level == 0 and (node.module or "").split(".")[0] in sys.stdlib_module_names, (
                    f"{name} imports from {node.module}"
                )


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_help(name: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--help"], capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert "--bundle" in result.stdout


@pytest.mark.parametrize("name, extra", [("minimal.py", []), ("score_file.py", ["-"]), ("http_server.py", ["--port", "0"])])
def test_example_with_a_missing_bundle_says_so_without_a_traceback(tmp_path: Path, name: str, extra: list[str]) -> None:
    missing = tmp_path / "no-bundle"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--bundle", str(missing), *extra],
        input="",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
    )
    assert result.returncode != 0
    assert "no bundle folder" in result.stderr and str(missing) in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


# -- minimal.py ----------------------------------------------------------------------------------


def test_minimal_scores_two_sentences(predictor: Predictor) -> None:
    result = run_example("minimal.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    parsed = [re.fullmatch(r"(positive|negative)\s+(\d\.\d{4})\s+(.+)", line) for line in lines]
    assert all(parsed), lines
    assert [m.group(1) for m in parsed] == ["positive", "negative"]  # type: ignore[union-attr]
    for m in parsed:
        expected = predictor.predict(m.group(3))[0]  # type: ignore[union-attr]
        assert float(m.group(2)) == pytest.approx(expected.score, abs=1e-4)  # type: ignore[union-attr]


# -- score_file.py -------------------------------------------------------------------------------


def _review_lines(n: int) -> list[str]:
    return [(POSITIVE + NEGATIVE)[i % 8] + f" Line {i}." for i in range(n)]


@pytest.mark.parametrize("fmt", ["tsv", "jsonl"])
@pytest.mark.parametrize("via", ["path", "stdin", "out"])
def test_score_file_matches_the_predictor(tmp_path: Path, predictor: Predictor, fmt: str, via: str) -> None:
    texts = _review_lines(250)
    raw = ("\n".join(texts[:100]) + "\n\n   \n" + "\r\n".join(texts[100:])).encode()  # blanks, CRLF, no final newline
    source = tmp_path / "reviews.txt"
    source.write_bytes(raw)
    out = tmp_path / "scores.out"
    args = {"path": [str(source)], "stdin": ["-"], "out": [str(source), "--out", str(out)]}[via]
    result = run_example("score_file.py", *args, "--format", fmt, "--block", "64", stdin=raw if via == "stdin" else b"")
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8") if via == "out" else result.stdout
    if via == "out":
        assert result.stdout == ""
    rows = text.splitlines()
    if fmt == "tsv":
        assert rows[0] == "line\tlabel\tscore"
        parsed = [(int(a), b, float(c)) for a, b, c in (r.split("\t") for r in rows[1:])]
    else:
        parsed = [(d["line"], d["label"], d["score"]) for d in map(json.loads, rows)]
    line_numbers = list(range(1, 101)) + list(range(103, 253))  # lines 101 and 102 are blank
    assert [p[0] for p in parsed] == line_numbers
    expected = predictor.predict(texts)
    assert [p[1] for p in parsed] == [e.label for e in expected]
    assert [p[2] for p in parsed] == pytest.approx([e.score for e in expected], abs=1e-6)
    positive = sum(e.label == "positive" for e in expected)
    summary = result.stderr.strip().splitlines()[-1]
    assert f"scored 250 lines: {positive} positive ({positive / 250:.1%})" in summary
    assert "texts/s" in summary and "skipped 2 blank" in summary


def test_score_file_empty_input(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    result = run_example("score_file.py", str(empty), "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "scored 0 lines" in result.stderr


def test_score_file_replaces_invalid_utf8_and_cuts_overlong_lines(tmp_path: Path, predictor: Predictor) -> None:
    source = tmp_path / "odd.txt"
    long_line = b"wonderful " * 50_000  # 500 kB, far over the 1000 bytes allowed below
    source.write_bytes(b"boring \xff dull\n" + long_line + b"\nloved it\n")
    result = run_example("score_file.py", str(source), "--format", "jsonl", "--max-line-bytes", "1000")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(r) for r in result.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3]  # the long line is one line, not 500
    assert rows[0]["score"] == pytest.approx(predictor.predict("boring \ufffd dull")[0].score, abs=1e-6)
    assert rows[1]["score"] == pytest.approx(predictor.predict(long_line[:1000].decode())[0].score, abs=1e-6)
    assert rows[2]["score"] == pytest.approx(predictor.predict("loved it")[0].score, abs=1e-6)
    assert "1 truncated" in result.stderr


def test_score_file_line_exactly_at_the_limit_is_not_truncated(tmp_path: Path) -> None:
    source = tmp_path / "exact.txt"
    source.write_bytes(b"a" * 99 + b"\n" + b"b" * 100 + b"\n" + b"c" * 100)
    result = run_example("score_file.py", str(source), "--format", "jsonl", "--max-line-bytes", "100")
    assert result.returncode == 0, result.stderr
    assert [json.loads(r)["line"] for r in result.stdout.splitlines()] == [1, 2, 3]
    assert "0 truncated" in result.stderr


class LineReader:
    """Lines of a pipe read by a background thread, so waiting for them can time out."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=lambda: [self._lines.put(line) for line in iter(stream.readline, "")], daemon=True)
        self._thread.start()

    def take(self, n: int, timeout: float = TIMEOUT) -> list[str]:
        """n lines, or as many as arrived before the timeout."""
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while len(lines) < n and (left := deadline - time.monotonic()) > 0:
            try:
                lines.append(self._lines.get(timeout=left))
            except queue.Empty:
                break
        return lines

    def rest(self) -> list[str]:
        """Every remaining line, once the stream has ended."""
        self._thread.join(timeout=TIMEOUT)
        assert not self._thread.is_alive(), "the stream did not end"
        return [self._lines.get() for _ in range(self._lines.qsize())]


def test_score_file_streams_block_by_block(tmp_path: Path) -> None:
    """The first block is written while the input is still open: the file is never read whole."""
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "score_file.py"), "--bundle", str(TINY), "-", "--block", "10", "--format", "jsonl"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("".join(t + "\n" for t in _review_lines(10)))
        proc.stdin.flush()  # ... and keep stdin open
        reader = LineReader(proc.stdout)
        first = reader.take(10)
        assert [json.loads(line)["line"] for line in first] == list(range(1, 11))
        assert proc.poll() is None  # still waiting for more input
        proc.stdin.write("wonderful\n")
        proc.stdin.close()
        assert proc.wait(timeout=TIMEOUT) == 0
        assert [json.loads(line)["line"] for line in reader.rest()] == [11]
    finally:
        proc.kill()
        proc.wait(timeout=TIMEOUT)


def test_score_file_missing_input(tmp_path: Path) -> None:
    result = run_example("score_file.py", str(tmp_path / "nope.txt"))
    assert result.returncode != 0
    assert "nope.txt" in result.stderr and "Traceback" not in result.stderr


# -- http_server.py ------------------------------------------------------------------------------


class Server:
    def __init__(self, url: str, proc: subprocess.Popen[str]) -> None:
        self.url, self.proc = url, proc

    def request(
        self, path: str, body: bytes | None = None, content_type: str | None = "application/json", method: str | None = None
    ) -> tuple[int, dict[str, str], Any]:
        headers = {"Content-Type": content_type} if content_type and body is not None else {}
        req = urllib.request.Request(self.url + path, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                status, resp_headers, raw = resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            status, resp_headers, raw = exc.code, dict(exc.headers), exc.read()
        assert resp_headers["Content-Type"].startswith("application/json")
        return status, resp_headers, json.loads(raw)

    def post(self, obj: Any) -> tuple[int, Any]:
        status, _, data = self.request("/predict", json.dumps(obj).encode())
        return status, data


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("http") / "server.log"
    with open(log, "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(EXAMPLES / "http_server.py"), "--bundle", str(TINY), "--port", "0", "--max-texts", "50"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=ROOT,
        )
    try:
        assert proc.stdout is not None
        first = LineReader(proc.stdout).take(1)
        match = re.search(r"http://127\.0\.0\.1:(\d+)", first[0] if first else "")
        assert match, f"no address on stdout {first!r}; log: {log.read_text()}"
        yield Server(f"http://127.0.0.1:{match.group(1)}", proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_http_health(server: Server) -> None:
    status, _, data = server.request("/health")
    assert status == 200
    assert data == {"status": "ok", "bundle": str(TINY)}


@pytest.mark.parametrize(
    "body",
    [{"texts": POSITIVE + NEGATIVE}, {"text": POSITIVE[0]}, {"texts": []}, {"texts": ["", "café ＭＯＶＩＥ 10/10 <br />"]}],
    ids=["texts", "text", "none", "odd"],
)
def test_http_predict_matches_the_predictor(server: Server, predictor: Predictor, body: dict[str, Any]) -> None:
    status, data = server.post(body)
    assert status == 200, data
    texts = body["texts"] if "texts" in body else [body["text"]]
    expected = predictor.predict(texts)
    assert [p["label"] for p in data["predictions"]] == [e.label for e in expected]
    assert [p["score"] for p in data["predictions"]] == pytest.approx([e.score for e in expected], abs=1e-6)
    assert all(set(p) == {"label", "score"} for p in data["predictions"])
    if "texts" in body and body["texts"] == POSITIVE + NEGATIVE:
        assert [p["label"] for p in data["predictions"]] == ["positive"] * 4 + ["negative"] * 4


def test_http_concurrent_requests(server: Server, predictor: Predictor) -> None:
    texts = _review_lines(16)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda t: server.post({"text": t}), texts))
    assert all(status == 200 for status, _ in answers)
    scores = [data["predictions"][0]["score"] for _, data in answers]
    assert scores == pytest.approx([e.score for e in predictor.predict(texts)], abs=1e-6)


@pytest.mark.parametrize(
    "body, content_type, status, message",
    [
        (b"{not json", "application/json", 400, "not valid UTF-8 JSON"),
        (b"\xff\xfe{}", "application/json", 400, "not valid UTF-8 JSON"),
        (b'["a list"]', "application/json", 400, '"texts"'),
        (b"{}", "application/json", 400, '"texts"'),
        (b'{"text": "a", "texts": ["b"]}', "application/json", 400, "either"),
        (b'{"texts": "not a list"}', "application/json", 400, "list of strings"),
        (b'{"texts": ["ok", 3]}', "application/json", 400, "text 1 is int"),
        (b'{"texts": [null]}', "application/json", 400, "text 0 is NoneType"),
        (b'{"text": {"nested": 1}}', "application/json", 400, "not a string"),
        (json.dumps({"texts": ["a"] * 51}).encode(), "application/json", 413, "limit is 50"),
        (b'{"text": "a"}', "text/plain", 415, "application/json"),
        (b'{"text": "a"}', None, 415, "application/json"),
    ],
)
def test_http_bad_requests(server: Server, body: bytes, content_type: str | None, status: int, message: str) -> None:
    got, _, data = server.request("/predict", body, content_type)
    assert got == status
    assert set(data) == {"error"} and message in data["error"]


@pytest.mark.parametrize("size", [1024 * 1024 + 1, 3 * 1024 * 1024])
def test_http_oversize_body(server: Server, size: int) -> None:
    body = b'{"text": "' + b"a" * (size - 12) + b'"}'
    assert len(body) == size
    status, _, data = server.request("/predict", body)
    assert status == 413
    assert f"the body is {size} bytes" in data["error"]


def test_http_body_at_the_limit_is_accepted(server: Server) -> None:
    body = b'{"text": "' + b"a" * (1024 * 1024 - 12) + b'"}'
    assert len(body) == 1024 * 1024
    status, _, data = server.request("/predict", body)
    assert status == 200 and len(data["predictions"]) == 1


@pytest.mark.parametrize(
    "method, path, status", [("GET", "/predict", 405), ("POST", "/health", 405), ("GET", "/nope", 404), ("POST", "/nope", 404)]
)
def test_http_wrong_method_or_path(server: Server, method: str, path: str, status: int) -> None:
    got, headers, data = server.request(path, b"{}" if method == "POST" else None, method=method)
    assert got == status and "error" in data
    if path == "/predict":
        assert headers["Allow"] == "POST"


def test_http_server_is_still_up_after_the_errors(server: Server) -> None:
    assert server.proc.poll() is None
    assert server.post({"text": "wonderful"})[0] == 200


def test_http_server_port_in_use(server: Server) -> None:
    port = server.url.rsplit(":", 1)[1]
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "http_server.py"), "--bundle", str(TINY), "--port", port],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
    )
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr

"""examples/http_server.py under hostile and heavy load, on loopback (127.0.0.1) only: every request is
answered with a status, slow clients are cut off at the deadline, threads and memory stay bounded.

Each client here is a raw socket, so a request can be as broken or as slow as an attacker's. Every loop
is bounded in count and in time and stops by itself.
"""

from __future__ import annotations

import json
import re
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ASSETS, ROOT

SERVER = ROOT / "examples" / "http_server.py"
TINY = ASSETS / "tiny_bundle"
DEADLINE = 2.0  # the server's --deadline in these tests, seconds
WORKERS = 8

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads threads and memory from /proc (Linux)")


class Server:
    """The example, started as a user starts it, on a free loopback port."""

    def __init__(self, *args: str) -> None:
        cmd = [sys.executable, str(SERVER), "--bundle", str(TINY), "--port", "0", "--quiet", *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the first line names the address (or the process ended)
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not match:
            self.stop()
            raise AssertionError(f"no address in {line!r}; stderr: {self.proc.stderr.read() if self.proc.stderr else ''}")
        self.port = int(match.group(1))
        self.startup_threads = self.status()[0]

    def status(self) -> tuple[int, int]:
        """The server's thread count and resident memory in kB, from /proc."""
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines())
        return int(fields["Threads"]), int(fields["VmRSS"].split()[0])

    def stop(self) -> str:
        """Stop the server; its standard error."""
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=DEADLINE + 10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
        return err


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    started = Server("--workers", str(WORKERS), "--queue", "256", "--deadline", str(DEADLINE))
    yield started
    err = started.stop()
    assert "Traceback" not in err, err


class Sampler:
    """Samples a server's threads and memory every 20 ms in a thread (at most 3,000 samples)."""

    def __init__(self, server: Server) -> None:
        self.server, self.samples = server, [server.status()]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for _ in range(3000):
            if self._stop.wait(0.02):
                return
            self.samples.append(self.server.status())

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def request(body: bytes, content_type: str = "application/json", length: str | None = None) -> bytes:
    """A raw POST /predict, its Content-Length the body's unless given."""
    head = f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
    head += f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    return head.encode("latin-1") + body  # what http.server decodes headers as


def _status(answer: bytes) -> int | None:
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
    return int(match.group(1)) if match else None


def exchange(port: int, data: bytes, shut: bool = False, timeout: float = 30) -> tuple[int | None, bytes]:
    """Send data (then close our side if shut) and read the answer to its end: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if shut:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server hung up early; its answer may be waiting all the same
            pass
        answer = b""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            answer += chunk
    return _status(answer), answer.partition(b"\r\n\r\n")[2]


def burst(port: int, payloads: list[bytes], limit: float = 60) -> list[int | None]:
    """Open a connection per payload, all at once, send every payload, then read every status line
    on one thread: the status each got, or None if none came within the limit."""
    socks, statuses = [], [None] * len(payloads)
    for data in payloads:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        socks.append(sock)
        try:
            sock.sendall(data)
        except OSError:
            pass
    with selectors.DefaultSelector() as sel:
        answers = {}
        for k, sock in enumerate(socks):
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ, k)
            answers[k] = b""
        end = time.monotonic() + limit
        while sel.get_map() and time.monotonic() < end:
            for key, _ in sel.select(timeout=0.5):
                k = key.data
                try:
                    chunk = socks[k].recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    chunk = b""
                answers[k] += chunk
                if not chunk or b"\r\n" in answers[k]:
                    statuses[k] = _status(answers[k])
                    sel.unregister(socks[k])
    for sock in socks:
        sock.close()
    return statuses


class SlowClients:
    """Clients that send a request one byte every 0.2 s (after `prefix`, sent at once), on one thread: each
    must be answered 408 at the deadline (a per-read timeout would let them hold a worker as long as they like)."""

    def __init__(self, port: int, n: int, prefix: bytes = b"") -> None:
        self.port, self.n, self.prefix = port, n, prefix
        self.statuses: list[int | None] = [None] * n
        self.seconds: list[float] = [0.0] * n
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        socks = [socket.create_connection(("127.0.0.1", self.port), timeout=10) for _ in range(self.n)]
        started = time.monotonic()
        trickle = b"a" * 10_000 if self.prefix else b"POST /predict HTTP/1.1\r\nX-Padding: " + b"a" * 10_000
        open_ = set(range(self.n))
        for step in range(int((2 * DEADLINE + 8) / 0.2)):  # bounded: two deadlines plus 8 s at most
            for k in list(open_):
                try:
                    socks[k].sendall((self.prefix if step == 0 else b"") + trickle[step : step + 1])
                except OSError:
                    pass
            ready = selectors.DefaultSelector()
            for k in open_:
                ready.register(socks[k], selectors.EVENT_READ, k)
            for key, _ in ready.select(timeout=0.2):
                k = key.data
                try:
                    answer = socks[k].recv(65536)
                except OSError:
                    answer = b""
                self.statuses[k], self.seconds[k] = _status(answer), time.monotonic() - started
                open_.discard(k)
            ready.close()
            if not open_:
                break
        for sock in socks:
            sock.close()

    def __enter__(self) -> SlowClients:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(timeout=DEADLINE + 20)


# -- bad bodies: a 4xx, never no reply ---------------------------------------------------------------


@pytest.mark.parametrize(
    "data, status, message",
    [
        (request(b"[" * 100_000 + b"]" * 100_000), 400, "not valid UTF-8 JSON"),
        (request(b'{"text": ' + b"[" * 200_000 + b"}"), 400, "not valid UTF-8 JSON"),
        (request(b'{"text": 1' + b"0" * 10_000 + b"}"), 400, "not valid UTF-8 JSON"),
        (request(b'{"text": NaN}'), 400, "text 0 is float"),
        (request(b'{"texts": [' + b'"a",' * 300 + b'"a"]}'), 413, "limit is 256"),
        (request(b'{"text": "a"}', length="\u00b2"), 400, "bad Content-Length"),  # superscript two: isdigit(), int() fails
        (request(b'{"text": "a"}', length="1\u00b3"), 400, "bad Content-Length"),
        (request(b'{"text": "a"}', length="-1"), 400, "bad Content-Length"),
        (request(b'{"text": "a"}', length="13, 13"), 400, "bad Content-Length"),
        (request(b'{"text": "a"}').replace(b"Content-Length: 13", b"Content-Length: 13\r\nContent-Length: 13"), 400, "bad"),
        (request(b'{"text": "a"}', length="99999999999999"), 413, "the body is 99999999999999 bytes"),
        (
            request(b"", length=None).replace(b"Content-Length: 0", b"Transfer-Encoding: chunked") + b"5\r\nhello\r\n0\r\n\r\n",
            411,
            "chunked",
        ),
        (request(b'{"text": "a"}').replace(b"Content-Length: 13\r\n", b""), 411, "Content-Length header is required"),
        (request(b'{"text": "\xff"}'), 400, "not valid UTF-8 JSON"),
        (request(b'{"text": "\\ud800 lone surrogate"}'), 200, "predictions"),
    ],
    ids=[
        "nested-100k",
        "nested-unclosed",
        "10k-digit-number",
        "nan",
        "too-many-texts",
        "superscript-length",
        "superscript-three-length",
        "negative-length",
        "listed-length",
        "two-lengths",
        "huge-length",
        "chunked",
        "no-length",
        "bad-utf8",
        "lone-surrogate",
    ],
)
def test_every_bad_body_gets_a_status(server: Server, data: bytes, status: int, message: str) -> None:
    got, body = exchange(server.port, data)
    assert got == status, body[:300]
    answer = json.loads(body)
    assert message in (answer["error"] if status != 200 else json.dumps(answer))


def test_a_body_shorter_than_its_length_gets_400(server: Server) -> None:
    got, body = exchange(server.port, request(b'{"text": "a"}', length="100"), shut=True)
    assert got == 400 and "the body ended after 13 of its 100 bytes" in json.loads(body)["error"]


def test_a_huge_body_sent_in_full_still_sees_its_413(server: Server) -> None:
    """The client sends all 32 MiB before it reads: the server reads and drops it, so the 413 is seen."""
    got, body = exchange(server.port, request(b"x" * (32 * 1024 * 1024)))
    assert got == 413 and "the limit is 1048576" in json.loads(body)["error"]


@pytest.mark.parametrize(
    "data, status",
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /health HTTP/one\r\n\r\n", 400),
        (b"GET /health HTTP/9.9\r\n\r\n", 505),
        (b"GET /health HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n", 431),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
    ],
)
def test_a_broken_request_gets_a_status(server: Server, data: bytes, status: int) -> None:
    assert exchange(server.port, data)[0] == status


# -- slow clients and load -------------------------------------------------------------------------


SLOW_BODY = request(b'{"text": "' + b"a" * 1000 + b'"}')[:-900]  # headers, and a body that never ends


@pytest.mark.parametrize("prefix", [b"", SLOW_BODY], ids=["slow-headers", "slow-body"])
def test_slow_clients_get_408_at_the_deadline_not_a_worker_forever(server: Server, prefix: bytes) -> None:
    with SlowClients(server.port, 2 * WORKERS, prefix) as slow:
        pass
    assert slow.statuses == [408] * (2 * WORKERS)
    # twice as many slow clients as workers: the second round waits for the first, each cut at the deadline
    assert max(slow.seconds) < 2 * DEADLINE + 3, slow.seconds


def test_200_concurrent_requests_beside_slow_clients_are_all_answered_threads_and_memory_bounded(server: Server) -> None:
    base_threads, base_rss = server.status()
    texts = ["A wonderful, moving film.", "Dull, and far too long.", "café ＭＯＶＩＥ 10/10 <br />"]
    payloads = [request(json.dumps({"text": texts[i % 3]}).encode()) for i in range(180)]
    big = json.dumps({"texts": ["word " * 4000] * 50}).encode()[: 1024 * 1024 - 10]  # near the 1 MiB limit
    payloads += [request(big.rsplit(b'", "', 1)[0] + b'"]}') for _ in range(20)]
    started = time.monotonic()
    with Sampler(server) as sampler, SlowClients(server.port, WORKERS) as slow:
        time.sleep(0.3)  # the slow clients hold every worker first
        statuses = burst(server.port, payloads)
    seconds = time.monotonic() - started
    assert slow.statuses == [408] * WORKERS
    assert statuses.count(200) == 200, {s: statuses.count(s) for s in set(statuses)}
    threads = max(t for t, _ in sampler.samples)
    # the workers, what ran at startup, and a few onnxruntime may start on first use
    assert threads <= server.startup_threads + WORKERS + 4
    rss_mb = (max(r for _, r in sampler.samples) - base_rss) / 1024
    print(f"200 requests + {WORKERS} slow clients in {seconds:.1f} s; threads {base_threads} -> {threads}; RSS +{rss_mb:.0f} MB")
    assert rss_mb < 150
    assert seconds < DEADLINE + 30


def test_a_full_queue_is_answered_503_not_left_unanswered() -> None:
    tight = Server("--workers", "1", "--queue", "1", "--deadline", str(DEADLINE))
    try:
        with SlowClients(tight.port, 2) as slow:  # the one worker and the one queue place, taken
            time.sleep(0.3)
            statuses = burst(tight.port, [request(b'{"text": "a"}')] * 200)
        assert slow.statuses == [408, 408]
        counts = {s: statuses.count(s) for s in set(statuses)}
        print(f"1 worker, 1 queue place, 2 slow clients, 200 requests: {counts}")
        assert set(counts) <= {200, 503} and counts.get(503, 0) >= 150, counts
        status, body = exchange(tight.port, request(b'{"text": "a"}'))  # and once the slow ones are gone, served
        assert status == 200 and json.loads(body)["predictions"]
    finally:
        assert "Traceback" not in tight.stop()

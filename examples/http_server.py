"""A tiny sentiment HTTP endpoint on the standard library's http.server, for a small host.

    python examples/http_server.py --port 8080
    curl -s localhost:8080/predict -H 'Content-Type: application/json' -d '{"texts": ["A wonderful film."]}'
    curl -s localhost:8080/health

POST /predict  {"text": "..."} or {"texts": ["...", ...]}  ->  {"predictions": [{"label": ..., "score": ...}]}
GET  /health   ->  {"status": "ok", "bundle": ...}

Errors are JSON too ({"error": "..."}): 400 for bad JSON or a body of the wrong shape, 408 for a request
that takes longer than --deadline seconds to arrive (however slowly it trickles in), 411 without a
Content-Length, 413 for a body or a list of texts over the limits, 415 for a non-JSON Content-Type, and
503 when every worker is busy and the queue is full (--workers threads, --queue connections waiting).
It listens on 127.0.0.1 only; put a real reverse proxy in front of it before exposing it further.
With --port 0 it takes any free port; the first line on standard output names the address.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from edge_sentiment import EdgeSentimentError, InputError, Predictor

MiB = 1024 * 1024


class RequestError(Exception):
    """A client mistake: answered with this HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RequestTimeout(Exception):
    """The request did not arrive before its deadline."""


def parse_texts(body: bytes, max_texts: int) -> list[str]:
    """The texts of a /predict body, or RequestError saying what is wrong with it."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, a 5,000-digit number, [[[... 100,000 deep
        raise RequestError(400, f"the body is not valid UTF-8 JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict) or ("text" in data) == ("texts" in data):
        raise RequestError(400, 'send a JSON object with either "text": "..." or "texts": ["...", ...]')
    if "text" in data:
        texts = [data["text"]]
    elif isinstance(data["texts"], list):
        texts = data["texts"]
    else:
        raise RequestError(400, '"texts" must be a list of strings')
    if len(texts) > max_texts:
        raise RequestError(413, f"{len(texts)} texts in one request; the limit is {max_texts}")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise RequestError(400, f"text {i} is {type(text).__name__}, not a string")
    return texts


class DeadlineReader(io.RawIOBase):
    """A socket's bytes, each read allowed only the time left before the request's deadline, so a
    client sending one byte a second cannot hold a worker longer than a fast one."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.handler.deadline - time.monotonic()
        if left <= 0:
            raise RequestTimeout
        self.handler.connection.settimeout(left)
        try:
            n = self.handler.connection.recv_into(buffer)
        except TimeoutError:
            raise RequestTimeout from None
        self.handler.started = self.handler.started or n > 0
        return n


class Handler(BaseHTTPRequestHandler):
    # Set on the class by main(): shared by all worker threads (a Predictor is thread-safe).
    predictor: Predictor
    max_body: int = MiB
    max_texts: int = 256
    deadline_seconds: float = 10.0  # for the whole request to arrive, however it is sliced
    quiet: bool = False
    server_version = "edge-sentiment-example"
    default_request_version = "HTTP/1.0"  # every answer has a status line, even to a request without a version

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the plain reader: replaced by one that keeps the deadline
        self.rfile = io.BufferedReader(DeadlineReader(self))

    def handle_one_request(self) -> None:
        self.deadline, self.started, self.unread = time.monotonic() + self.deadline_seconds, False, False
        self.command, self.requestline, self.request_version = None, "", "HTTP/1.0"  # for an answer before they are read
        try:
            super().handle_one_request()
        except RequestTimeout:
            self.close_connection = True
            if self.started:  # a request began but did not arrive in time (a connection that sent nothing gets nothing)
                self.send_json(408, {"error": f"the request did not arrive within {self.deadline_seconds:g} s"})

    def do_GET(self) -> None:
        if self.path == "/health":
            self.send_json(200, {"status": "ok", "bundle": str(self.predictor.bundle.path)})
        elif self.path == "/predict":
            self.send_json(405, {"error": "use POST for /predict"}, allow="POST")
        else:
            self.send_json(404, {"error": f"no such endpoint {self.path!r}; try POST /predict or GET /health"})

    def do_POST(self) -> None:
        if self.path != "/predict":
            status = 405 if self.path == "/health" else 404
            self.unread = True
            self.send_json(status, {"error": f"POST {self.path!r} is not an endpoint; try POST /predict"})
            return
        try:
            texts = parse_texts(self.read_body(), self.max_texts)
        except RequestError as exc:
            self.send_json(exc.status, {"error": str(exc)})
            return
        try:
            results = self.predictor.predict(texts)
        except InputError as exc:  # a text the model cannot take
            self.send_json(400, {"error": str(exc)})
            return
        except Exception as exc:  # not the client's fault: log it, answer 500, keep serving
            self.log_error("prediction failed: %r", exc)
            self.send_json(500, {"error": "prediction failed"})
            return
        self.send_json(200, {"predictions": [{"label": r.label, "score": r.score} for r in results]})

    def read_body(self) -> bytes:
        """The request body: its size is checked before any of it is read, its type after."""
        self.unread = True  # until the body is read, a refusal hangs up (see send_json)
        if "Transfer-Encoding" in self.headers:
            raise RequestError(411, "chunked bodies are not accepted; send a Content-Length")
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            raise RequestError(411, "a Content-Length header is required")
        if len(lengths) > 1 or not re.fullmatch(r"[0-9]{1,15}", lengths[0]):  # ASCII digits only: int() takes "١٢"
            raise RequestError(400, f"bad Content-Length {', '.join(lengths)!r}")
        length = int(lengths[0])
        if length > self.max_body:
            raise RequestError(413, f"the body is {length} bytes; the limit is {self.max_body}")
        body = self.rfile.read(length)
        if len(body) < length:
            raise RequestError(400, f"the body ended after {len(body)} of its {length} bytes")
        self.unread = False
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise RequestError(415, "send the body as Content-Type: application/json")
        return body

    def send_json(self, status: int, obj: dict[str, Any], allow: str | None = None) -> None:
        """Answer with JSON; after a refusal with the body unread, hang up, reading what the client
        still sends until its deadline so that it sees the answer (not a reset connection)."""
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.connection.settimeout(max(self.deadline - time.monotonic(), 1.0))  # a client must also read in time
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if allow:
            self.send_header("Allow", allow)
        if self.unread or self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        if self.unread:
            self.unread = False
            self.connection.shutdown(socket.SHUT_WR)
            try:
                while self.rfile.read1(64 * 1024):
                    pass
            except (RequestTimeout, OSError):
                pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        if not self.quiet:
            super().log_message(format, *args)


_BUSY_BODY = b'{"error": "every worker is busy; try again in a second"}'
BUSY = b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\nRetry-After: 1\r\n"
BUSY += b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY)


class PoolServer(HTTPServer):
    """An HTTP server with a fixed pool of worker threads and a bounded queue of connections waiting
    for them; a connection beyond that is answered 503 at once. (ThreadingHTTPServer starts a thread
    per connection, without limit, and listens with a backlog of 5.)"""

    request_queue_size = 512  # the listen backlog: connections the kernel holds until they are accepted

    def __init__(self, address: tuple[str, int], workers: int, queue: int) -> None:
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="worker")
        self.slots = threading.BoundedSemaphore(workers + queue)
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.refuse(request)
            return
        self.pool.submit(self.work, request, client_address)

    def work(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except OSError:
            pass  # the client went away
        finally:
            self.shutdown_request(request)
            self.slots.release()

    def refuse(self, request: socket.socket) -> None:
        """503 without a worker: read what has arrived (so closing does not reset the connection), answer, close."""
        try:
            request.setblocking(False)
            for _ in range(16):
                if not request.recv(64 * 1024):
                    break
        except OSError:  # nothing more to read yet, or the client went away
            pass
        try:
            request.send(BUSY)
            request.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        request.close()

    def server_close(self) -> None:
        super().server_close()
        self.pool.shutdown(wait=False, cancel_futures=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve edge-sentiment predictions over HTTP on 127.0.0.1.")
    parser.add_argument("--bundle", default=None, help="bundle folder (default: the one shipped in the package)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on; 0 picks a free one (default: 8080)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads per request (default: 1)")
    parser.add_argument("--workers", type=int, default=8, help="requests handled at once (default: 8)")
    parser.add_argument("--queue", type=int, default=256, help="connections waiting for a worker before 503 (default: 256)")
    parser.add_argument("--deadline", type=float, default=10.0, help="seconds for a whole request to arrive (default: 10)")
    parser.add_argument("--max-body", type=int, default=MiB, help="largest request body in bytes (default: 1 MiB)")
    parser.add_argument("--max-texts", type=int, default=256, help="most texts in one request (default: 256)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request to standard error")
    args = parser.parse_args()
    for name in ("workers", "deadline", "max_body", "max_texts"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be more than 0")
    if args.queue < 0:
        parser.error("--queue must be 0 or more")

    try:
        predictor = Predictor.load(args.bundle, threads=args.threads)
    except EdgeSentimentError as exc:  # its messages say what is wrong and what to do
        sys.exit(f"error: {exc}")
    Handler.predictor = predictor
    Handler.max_body, Handler.max_texts, Handler.quiet = args.max_body, args.max_texts, args.quiet
    Handler.deadline_seconds = args.deadline

    try:
        server = PoolServer(("127.0.0.1", args.port), args.workers, args.queue)
    except OSError as exc:
        sys.exit(f"error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop cleanly under a process manager
    host, port = server.server_address[:2]
    print(f"serving on http://{host}:{port} (POST /predict, GET /health)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

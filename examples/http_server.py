"""A tiny sentiment HTTP endpoint on the standard library's http.server, for a small host.

    python examples/http_server.py --port 8080
    curl -s localhost:8080/predict -H 'Content-Type: application/json' -d '{"texts": ["A wonderful film."]}'
    curl -s localhost:8080/health

POST /predict  {"text": "..."} or {"texts": ["...", ...]}  ->  {"predictions": [{"label": ..., "score": ...}]}
GET  /health   ->  {"status": "ok", "bundle": ...}

Errors are JSON too ({"error": "..."}): 400 for bad JSON or a body of the wrong shape, 411 without a
Content-Length, 413 for a body or a list of texts over the limits, 415 for a non-JSON Content-Type.
It listens on 127.0.0.1 only; put a real reverse proxy in front of it before exposing it further.
With --port 0 it takes any free port; the first line on standard output names the address.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from edge_sentiment import EdgeSentimentError, Predictor

MiB = 1024 * 1024


class RequestError(Exception):
    """A client mistake: answered with this HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_texts(body: bytes, max_texts: int) -> list[str]:
    """The texts of a /predict body, or RequestError saying what is wrong with it."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(400, f"the body is not valid UTF-8 JSON: {exc}") from None
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


class Handler(BaseHTTPRequestHandler):
    # Set on the class by serve(): shared by all request threads (a Predictor is thread-safe).
    predictor: Predictor
    max_body: int = MiB
    max_texts: int = 256
    quiet: bool = False
    timeout = 30  # seconds a client may take to send its request, so slow clients cannot hold threads
    server_version = "edge-sentiment-example"

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
            self.send_json(status, {"error": f"POST {self.path!r} is not an endpoint; try POST /predict"})
            return
        try:
            body = self.read_body()
            texts = parse_texts(body, self.max_texts)
        except RequestError as exc:
            self.send_json(exc.status, {"error": str(exc)})
            return
        try:
            results = self.predictor.predict(texts)
        except Exception as exc:  # not the client's fault: log it, answer 500, keep serving
            self.log_error("prediction failed: %r", exc)
            self.send_json(500, {"error": "prediction failed"})
            return
        self.send_json(200, {"predictions": [{"label": r.label, "score": r.score} for r in results]})

    def read_body(self) -> bytes:
        """The request body: its size is checked before any of it is read, its type after."""
        if "Transfer-Encoding" in self.headers:
            self.close_connection = True
            raise RequestError(411, "chunked bodies are not accepted; send a Content-Length")
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            raise RequestError(411, "a Content-Length header is required")
        if not length_header.isdigit():
            self.close_connection = True
            raise RequestError(400, f"bad Content-Length {length_header!r}")
        length = int(length_header)
        if length > self.max_body:
            self.discard(length)
            raise RequestError(413, f"the body is {length} bytes; the limit is {self.max_body}")
        body = self.rfile.read(length)
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise RequestError(415, "send the body as Content-Type: application/json")
        return body

    def discard(self, length: int) -> None:
        """Read and drop a refused body (up to 4 times the limit) so the client can read the answer."""
        if length > 4 * self.max_body:
            self.close_connection = True  # too large to drain: answer and hang up
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 64 * 1024))
            if not chunk:
                break
            length -= len(chunk)

    def send_json(self, status: int, obj: dict[str, Any], allow: str | None = None) -> None:
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if allow:
            self.send_header("Allow", allow)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        if not self.quiet:
            super().log_message(format, *args)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve edge-sentiment predictions over HTTP on 127.0.0.1.")
    parser.add_argument("--bundle", default=None, help="bundle folder (default: the one shipped in the package)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on; 0 picks a free one (default: 8080)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads per request (default: 1)")
    parser.add_argument("--max-body", type=int, default=MiB, help="largest request body in bytes (default: 1 MiB)")
    parser.add_argument("--max-texts", type=int, default=256, help="most texts in one request (default: 256)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request to standard error")
    args = parser.parse_args()

    try:
        predictor = Predictor.load(args.bundle, threads=args.threads)
    except EdgeSentimentError as exc:  # its messages say what is wrong and what to do
        sys.exit(f"error: {exc}")
    Handler.predictor = predictor
    Handler.max_body, Handler.max_texts, Handler.quiet = args.max_body, args.max_texts, args.quiet

    try:
        server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    except OSError as exc:
        sys.exit(f"error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}")
    server.daemon_threads = True
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

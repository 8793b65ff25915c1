"""Score a large text file, one review per line, a block of lines at a time: memory stays bounded.

    python examples/score_file.py reviews.txt > scores.tsv
    python examples/score_file.py reviews.txt --format jsonl --out scores.jsonl
    zcat reviews.txt.gz | python examples/score_file.py - --block 500

Writes one row per non-blank line (its line number, label and score) as TSV with a header or as
JSON Lines, to standard output or --out, and flushes after every block, so it works in a pipe.
A summary (lines scored, positive share, texts per second) goes to standard error.
Invalid UTF-8 is replaced, never fatal; a line longer than --max-line-bytes keeps only its start.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from itertools import islice
from typing import BinaryIO, TextIO

from edge_sentiment import EdgeSentimentError, Predictor


def read_lines(stream: BinaryIO, max_line_bytes: int) -> Iterator[tuple[int, str, bool]]:
    """(line number, text, truncated) for each line; never holds more than max_line_bytes of one line."""
    number = 0
    while raw := stream.readline(max_line_bytes):
        number += 1
        truncated = False
        if len(raw) == max_line_bytes and not raw.endswith(b"\n"):
            rest = stream.readline(max_line_bytes)  # the remainder is skipped, a piece at a time
            truncated = rest not in (b"", b"\n", b"\r\n")
            while rest and not rest.endswith(b"\n"):
                rest = stream.readline(max_line_bytes)
        yield number, raw.rstrip(b"\r\n").decode("utf-8", "replace"), truncated


def write_row(out: TextIO, fmt: str, line: int, label: str, score: float) -> None:
    if fmt == "jsonl":
        out.write(json.dumps({"line": line, "label": label, "score": round(score, 6)}) + "\n")
    else:
        out.write(f"{line}\t{label}\t{score:.6f}\n")


def score(predictor: Predictor, source: BinaryIO, out: TextIO, args: argparse.Namespace) -> dict[str, int]:
    counts = {"scored": 0, "positive": 0, "blank": 0, "truncated": 0}
    if args.format == "tsv":
        out.write("line\tlabel\tscore\n")
    lines = read_lines(source, args.max_line_bytes)
    while block := list(islice(lines, args.block)):  # at most --block lines in memory
        kept = [(number, text) for number, text, _ in block if text.strip()]
        counts["blank"] += len(block) - len(kept)
        counts["truncated"] += sum(truncated for _, _, truncated in block)
        results = predictor.predict([text for _, text in kept])
        for (number, _), result in zip(kept, results):
            write_row(out, args.format, number, result.label, result.score)
            counts["positive"] += result.label == "positive"
        counts["scored"] += len(kept)
        out.flush()  # a reader at the other end of a pipe sees each block as soon as it is scored
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description="Score a text file, one review per line, in bounded memory.")
    parser.add_argument("input", nargs="?", default="-", help="text file, one review per line ('-' or none: stdin)")
    parser.add_argument("--bundle", default=None, help="bundle folder (default: the one shipped in the package)")
    parser.add_argument("--out", default=None, help="write the scores here instead of standard output")
    parser.add_argument("--format", choices=["tsv", "jsonl"], default="tsv", help="output format (default: tsv)")
    parser.add_argument("--block", type=int, default=1000, help="lines scored at a time (default: 1000)")
    parser.add_argument("--max-line-bytes", type=int, default=1 << 20, help="longer lines keep only their start (default: 1 MiB)")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads (default: one per core)")
    args = parser.parse_args()
    if args.block < 1 or args.max_line_bytes < 1:
        parser.error("--block and --max-line-bytes must be at least 1")

    try:
        predictor = Predictor.load(args.bundle, threads=args.threads)
    except EdgeSentimentError as exc:  # its messages say what is wrong and what to do
        sys.exit(f"error: {exc}")

    started = time.perf_counter()
    try:
        source = sys.stdin.buffer if args.input == "-" else open(args.input, "rb")
        out = sys.stdout if args.out is None else open(args.out, "w", encoding="utf-8", newline="\n")
    except OSError as exc:
        sys.exit(f"error: cannot open {exc.filename}: {exc.strerror}")
    try:
        counts = score(predictor, source, out, args)
    except BrokenPipeError:  # e.g. `| head`: the reader has gone, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # so the final flush of stdout stays quiet
        sys.exit(0)
    finally:
        if source is not sys.stdin.buffer:
            source.close()
        if out is not sys.stdout:
            out.close()

    seconds = time.perf_counter() - started
    share = counts["positive"] / counts["scored"] if counts["scored"] else 0.0
    rate = counts["scored"] / seconds if seconds > 0 else 0.0
    print(
        f"scored {counts['scored']} lines: {counts['positive']} positive ({share:.1%}), "
        f"{seconds:.2f} s, {rate:.0f} texts/s; skipped {counts['blank']} blank, "
        f"{counts['truncated']} truncated to {args.max_line_bytes} bytes",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()

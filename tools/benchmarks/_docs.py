"""Shared by the benchmark scripts: run `edge-sentiment export` as a user does, and put a generated
table between a doc's two marker comments."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["write_between", "run_export", "write_rows"]


def run_export(
    model: Path, out: Path, data: Path, samples: int, options: list[str], imports: str | None = None
) -> tuple[dict[str, Any], str, float]:
    """`edge-sentiment export MODEL --out OUT --data DATA --parity-samples N --json --force OPTIONS` in a
    fresh process: (the manifest, or {"error": its message}), the command as shown in a doc, seconds.

    imports: run it in this process instead, which has registered a function the model names (a custom
    standardize Keras saves by name only); shown as the `python -c "import IMPORTS; ..."` a user runs."""
    args = ["export", str(model), "--out", str(out), "--data", str(data), "--parity-samples", str(samples), "--json",
            "--force", *options]  # fmt: skip
    started = time.perf_counter()
    if imports is None:
        done = subprocess.run(
            [sys.executable, "-m", "edge_sentiment", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        code, stdout, stderr = done.returncode, done.stdout, done.stderr
        shown = shlex.join(["edge-sentiment", *args])
    else:
        from click.testing import CliRunner

        from edge_sentiment.cli import main

        result = CliRunner().invoke(main, args)
        code, stdout, stderr = result.exit_code, result.stdout, result.stderr
        if code != 0 and not stderr.strip() and result.exception is not None:
            stderr = f"{type(result.exception).__name__}: {result.exception}"
        shown = f'python -c "import {imports}; from edge_sentiment.cli import main; main({args!r})"'
    seconds = time.perf_counter() - started
    shown = shown.replace(str(out.parent), "$WORK").replace(str(data), "$DATA").replace(str(data.parent), "$(dirname $DATA)")
    if code != 0:
        lines = stderr.strip().splitlines() or ["(no message)"]
        first = max((i for i, line in enumerate(lines) if line.startswith("Error: ")), default=len(lines) - 1)
        error = " ".join(line.strip() for line in lines[first:]).removeprefix("Error: ").replace(str(out.parent), "$WORK")
        return {"error": error}, shown, seconds
    return json.loads(stdout), shown, seconds


def write_between(doc: Path, name: str, text: str) -> None:
    """Replace what stands between `<!-- NAME: begin -->` and `<!-- NAME: end -->` in doc with text."""
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    content = doc.read_text(encoding="utf-8")
    if begin not in content or end not in content:
        raise SystemExit(f"{doc} has no {begin} ... {end} markers to write between")
    start, stop = content.index(begin) + len(begin), content.index(end)
    doc.write_text(content[:start] + "\n" + text + "\n" + content[stop:], encoding="utf-8")


def write_rows(path: Path, meta: dict[str, Any], rows: list[dict[str, Any]], drop: tuple[str, ...] = ("manifest",)) -> None:
    """Every figure of a table's rows as JSON: each row less `drop`, with its export's gates and parity."""
    kept = [{k: v for k, v in r.items() if k not in drop} | {"gates": r["manifest"].get("gates"),
            "parity": r["manifest"].get("parity")} for r in rows]  # fmt: skip
    path.write_text(json.dumps({"meta": meta, "rows": kept}, indent=1, default=str))

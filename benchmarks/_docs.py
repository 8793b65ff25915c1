"""Shared by the benchmark scripts: put a generated table between a doc's two marker comments."""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_between"]


def write_between(doc: Path, name: str, text: str) -> None:
    """Replace what stands between `<!-- NAME: begin -->` and `<!-- NAME: end -->` in doc with text."""
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    content = doc.read_text(encoding="utf-8")
    if begin not in content or end not in content:
        raise SystemExit(f"{doc} has no {begin} ... {end} markers to write between")
    start, stop = content.index(begin) + len(begin), content.index(end)
    doc.write_text(content[:start] + "\n" + text + "\n" + content[stop:], encoding="utf-8")

"""Reliability trials: fuzzed texts, huge inputs, threads, kills and faults during export; prints the figures.

Run:  .venv/bin/python tools/maintenance/reliability.py [--fuzz-examples N] [--random-texts N] [--kill-trials N] [--json]
from the project's root; tests/test_reliability.py imports the trials (tools.maintenance.reliability) and runs
them small; docs/reliability.md holds the figures of a real run. Exports use only tests/assets (tiny_run,
tiny_bundle), never the IMDB data.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]  # the project: this file is tools/maintenance/reliability.py
SCRIPT = Path(__file__).resolve()
TINY_BUNDLE = ROOT / "tests" / "assets" / "tiny_bundle"
TINY_RUN = ROOT / "tests" / "assets" / "tiny_run"
MARKER = "reliability-trial"  # source.command of every bundle a trial writes: tells "new" from "old"
MB = 1024 * 1024

# -- hostile texts --------------------------------------------------------------------------------

FRAGMENTS = [
    "",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\x00",
    "\x07",
    "\x1b[31m",
    "\x7f",
    "\u0085",
    "\u00a0",
    "\u200b",
    "\u200d",
    "\u202e",
    "\u2028",
    "\ufeff",
    "\ufffd",
    "\ud800",
    "\udfff",
    "\udbff\udfff",
    "\U0010ffff",
    "\ue000",
    "😀",
    "👍🏽",
    "👨‍👩‍👧",
    "🇫🇷",
    "e\u0301",
    "\u0301",
    "\u00b4",
    "\u00a8",
    "ﬁ",
    "Ⅻ",
    "①",
    "Σ",
    "ΑΣ",
    "İ",
    "ß",
    "ẞ",
    "日本語",
    "مرحبا",
    "Привет",
    "עברית",
    "١٢٣",
    "ท",
    "don't",
    "'",
    "''",
    "`",
    "’",
    "‘",
    "ʼ",
    "_",
    "-",
    "\\",
    "%s",
    "{}",
    "<br />",
    "<br/>",
    "<i>",
    "</b>",
    "<p>",
    "<",
    ">",
    "<br\n/>",
    "<script>alert(1)</script>",
    "<a href='x'>",
    "&amp;",
    "&#x27;",
    "the",
    "The",
    "GREAT",
    "great",
    "good",
    "bad",
    "awful",
    "film",
    "movie",
    "wonderful",
    "boring",
    "zzzz",
    "1234567890",
]


def hostile_texts() -> Any:
    """Hypothesis strategy: any str (surrogates included), hostile fragments, and long texts past the tail cut."""
    from hypothesis import strategies as st

    any_char = st.characters(blacklist_categories=())  # every code point: surrogates, controls, private use
    fragment = st.one_of(st.sampled_from(FRAGMENTS), st.text(any_char, max_size=4))
    mixed = st.lists(fragment, max_size=40).map("".join)
    long = st.tuples(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=12).map("".join), st.integers(1, 1500)).map(
        lambda t: t[0] * t[1]
    )  # up to ~50k chars: the tokenizer's tail path
    plain = st.text(any_char)
    return st.one_of(plain, mixed, plain, mixed, plain, mixed, long)  # one text in seven is long


def check_text(predictor: Any, text: str) -> float:
    """The properties of one text: encode never raises, ids in range and as words() says; one probability."""
    from edge_sentiment.runtime.tokenizer import OOV_ID, words

    tok = predictor.tokenizer
    ids = tok.encode(text)
    assert len(ids) <= tok.max_len, f"{len(ids)} ids > max_len {tok.max_len}"
    assert all(OOV_ID <= i < tok.vocab_size for i in ids), f"id out of [1, {tok.vocab_size}): {ids}"
    index = {w: i + 2 for i, w in enumerate(tok.words)}
    expected = [index.get(w, OOV_ID) for w in words(text)][-tok.max_len :] if tok.max_len else []
    assert ids == expected, "encode() differs from the words() of the whole text"
    p = predictor.predict_proba(text)
    assert p.shape == (1,) and p.dtype == np.float32, f"shape {p.shape} dtype {p.dtype}"
    assert np.isfinite(p[0]) and 0.0 <= p[0] <= 1.0, f"score {p[0]!r}"
    return float(p[0])


def check_batch(predictor: Any, texts: list[str]) -> None:
    """Every text passes check_text, and the batch gives shape (n,) equal to the one-by-one scores."""
    singles = np.array([check_text(predictor, t) for t in texts], dtype=np.float32)
    p = predictor.predict_proba(texts)
    assert p.shape == (len(texts),) and p.dtype == np.float32, f"shape {p.shape} for {len(texts)} texts"
    assert np.all(np.isfinite(p) & (p >= 0) & (p <= 1)), f"scores {p!r}"
    assert np.allclose(p, singles, rtol=0, atol=1e-6), f"batch {p!r} != one by one {singles!r}"


def run_fuzz(predictor: Any, examples: int, seed: int = 0) -> dict[str, Any]:
    """Run check_batch on `examples` generated lists of 1-8 hostile texts; count exactly what ran."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    counts: dict[str, Any] = {"examples": 0, "texts": 0, "chars": 0, "max_chars": 0, "errors": 0, "first_errors": []}

    @hseed(seed)
    @settings(
        max_examples=examples, deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
    )
    @given(st.lists(hostile_texts(), min_size=1, max_size=8))
    def prop(texts: list[str]) -> None:
        counts["examples"] += 1
        check_counted(predictor, texts, counts)

    start = time.perf_counter()
    prop()
    counts["seconds"] = round(time.perf_counter() - start, 1)
    return counts


def check_counted(predictor: Any, texts: list[str], counts: dict[str, Any]) -> None:
    """check_batch on texts, adding them to counts; an error is counted and kept, so the run goes on."""
    counts["texts"] += len(texts)
    counts["chars"] += sum(map(len, texts))
    counts["max_chars"] = max(counts["max_chars"], *map(len, texts))
    try:
        check_batch(predictor, texts)
    except Exception as exc:  # counted and reported
        counts["errors"] += 1
        if len(counts["first_errors"]) < 5:
            counts["first_errors"].append(f"{type(exc).__name__}: {exc} on {[t[:80] for t in texts]!r}")


def random_text(rng: random.Random) -> str:
    """A seeded hostile string: fragments, any code points (surrogates included), ASCII; one in 50 is long."""
    pieces = []
    for _ in range(rng.randint(0, 30)):
        kind = rng.random()
        if kind < 0.5:
            pieces.append(rng.choice(FRAGMENTS))
        elif kind < 0.8:
            pieces.append("".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(rng.randint(1, 4))))
        else:
            pieces.append("".join(chr(rng.randint(0, 127)) for _ in range(rng.randint(1, 8))))
    text = "".join(pieces)
    if text and rng.random() < 0.02:
        text *= rng.randint(17_000, 40_000) // len(text) + 1  # past the tokenizer's 16,384-char tail cut
    return text


def run_random(predictor: Any, n_texts: int, seed: int = 0) -> dict[str, Any]:
    """check_batch on n_texts seeded random hostile strings, in batches of 1-8; count exactly what ran."""
    rng = random.Random(seed)
    counts: dict[str, Any] = {"texts": 0, "chars": 0, "max_chars": 0, "errors": 0, "first_errors": []}
    start = time.perf_counter()
    while counts["texts"] < n_texts:
        texts = [random_text(rng) for _ in range(min(rng.randint(1, 8), n_texts - counts["texts"]))]
        check_counted(predictor, texts, counts)
    counts["seconds"] = round(time.perf_counter() - start, 1)
    return counts


# -- huge inputs and threads ----------------------------------------------------------------------

BIG_SHAPES = {  # name -> a review of about `size` UTF-8 bytes, shaped to push one part of the tokenizer
    "words": lambda size: ("the film was great but boring " * (size // 30 + 1))[:size],
    "one word": lambda size: "a" * size,
    "NUL": lambda size: "\x00" * size,
    "emoji, no space": lambda size: "😀" * (size // 4),
    "html tags": lambda size: "<br />" * (size // 6),
    "nbsp + combining": lambda size: "\u00a0\u0301" * (size // 4),
    "sparse spaces": lambda size: ("a" * 16_000 + " ") * (size // 16_001),
    "a'a'a' word": lambda size: "a'" * (size // 2),
    # words with no whitespace: the tail reader cuts at punctuation (","), or reads the whole ("." and tags)
    "commas, no space": lambda size: "great," * (size // 6),
    "dots, no space": lambda size: "great." * (size // 6),
    "tags, no space": lambda size: "film<i>" * (size // 7),
}


def measure(predictor: Any, text: str) -> dict[str, Any]:
    """Seconds and peak Python heap (tracemalloc) of scoring one text."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        p = predictor.predict_proba(text)
        error = None
    except Exception as exc:
        p, error = None, f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    ok = p is not None and p.shape == (1,) and bool(np.isfinite(p[0])) and 0.0 <= float(p[0]) <= 1.0
    return {"seconds": round(seconds, 2), "peak_mb": round(peak / MB, 1), "ok": ok, "error": error}


def huge_text_rss(consumer: str, size: int = 10 * MB, shapes: list[str] | None = None) -> dict[str, Any]:
    """Peak resident memory (the whole process: onnxruntime's native memory too) a `size`-byte text of
    each shape adds, in a fresh child: consumer "predictor" (Predictor.predict_proba) or "text-model"
    (TextModel.predict_proba; a text it refuses counts, with its InputError)."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "_child", "huge", json.dumps({"consumer": consumer, "size": size, "shapes": shapes})],
        capture_output=True,
        text=True,
        env=_child_env(),
        cwd=ROOT,
        timeout=600,
    )
    found = [line for line in proc.stdout.splitlines() if line.startswith("result ")]
    if proc.returncode or not found:
        raise RuntimeError(f"the huge-text child failed ({proc.returncode}): {proc.stderr[-800:]}")
    result: dict[str, Any] = json.loads(found[-1][len("result ") :])
    return result


def _child_huge(args: dict[str, Any]) -> None:
    from edge_sentiment import InputError, Predictor, TextModel

    def status(key: str) -> float:
        with open("/proc/self/status", encoding="ascii") as fh:
            return next(int(line.split()[1]) / 1024 for line in fh if line.startswith(key))

    import ctypes
    import gc

    libc = ctypes.CDLL(None)
    trim = getattr(libc, "malloc_trim", lambda _pad: 0)
    model: Any = Predictor.load(TINY_BUNDLE) if args["consumer"] == "predictor" else TextModel.load(TINY_BUNDLE)
    model.predict_proba(["warm up, a short text"])
    out = {}
    for shape in args["shapes"] or list(BIG_SHAPES):
        text = BIG_SHAPES[shape](args["size"])
        gc.collect()
        trim(0)  # give freed heap back, so the peak below is this text's own
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")  # VmHWM := VmRSS (Linux)
        base = status("VmRSS:")
        start = time.perf_counter()
        try:
            p, error = model.predict_proba([text]), None
            ok = p.shape[0] == 1 and bool(np.all(np.isfinite(p)))
        except InputError as exc:
            ok, error = True, f"InputError: {exc}"
        out[shape] = {
            "peak_rss_growth_mb": round(status("VmHWM:") - base, 1),
            "seconds": round(time.perf_counter() - start, 2),
            "ok": ok,
            "refused": error,
        }
        del text
    print("result " + json.dumps(out), flush=True)


def concurrency(predictor: Any, threads: int = 64, rounds: int = 4) -> dict[str, Any]:
    """`threads` threads share one Predictor, mixing single texts and batches; outputs compared bitwise."""
    texts = [
        "",
        "a wonderful brilliant film",
        "boring awful stupid",
        "zzz qqq",
        "\x00" * 50,
        "\ud800 great",
        " ".join(["the film was wonderful and the plot was boring"] * 9),
        "😀 good 日本語 bad <br />",
    ]
    calls: list[Any] = [*texts, texts, texts[::-1], texts[2:5], [texts[0]] * 40, [texts[6]] * 70]
    reference = [predictor.predict_proba(c).tobytes() for c in calls]
    start = threading.Barrier(threads)
    mismatches, errors, done = [0], [], [0]
    lock = threading.Lock()

    def work(worker: int) -> None:
        try:
            start.wait()
            for r in range(rounds):
                for k in range(len(calls)):
                    i = (k + worker + r) % len(calls)  # each thread its own order
                    same = predictor.predict_proba(calls[i]).tobytes() == reference[i]
                    with lock:
                        done[0] += 1
                        mismatches[0] += not same
        except BaseException as exc:  # reported by the caller
            errors.append(f"{type(exc).__name__}: {exc}")

    pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=300)
    return {
        "threads": threads,
        "calls": done[0],
        "expected_calls": threads * rounds * len(calls),
        "mismatches": mismatches[0],
        "errors": errors[:5],
        "seconds": round(time.perf_counter() - t0, 1),
        "identical": mismatches[0] == 0 and not errors and done[0] == threads * rounds * len(calls),
    }


# -- bundles on disk ------------------------------------------------------------------------------


def tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def prepare_target(workdir: Path) -> Path:
    """A good bundle (a copy of tests/assets/tiny_bundle) at workdir/out/bundle, for a trial to replace."""
    target = workdir / "out" / "bundle"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(TINY_BUNDLE, target)
    return target


def inspect_target(target: Path) -> dict[str, Any]:
    """What a trial left: the old bundle, the new one, or neither; and what each leftover folder is."""
    from edge_sentiment import EdgeSentimentError, load_bundle

    out: dict[str, Any] = {"state": "missing", "verifies": False, "error": None, "leftovers": []}
    if target.is_dir():
        try:
            manifest = load_bundle(target).manifest
            out["verifies"] = True
        except EdgeSentimentError as exc:
            manifest, out["error"] = {}, str(exc)
        if tree(target) == tree(TINY_BUNDLE):
            out["state"] = "old"
        elif out["verifies"] and manifest.get("source", {}).get("command") == MARKER:
            out["state"] = "new"
        else:
            out["state"] = "broken"
    for entry in sorted(target.parent.iterdir()):
        if entry.name == target.name:
            continue
        try:
            load_bundle(entry)
            what = "a complete bundle, beside the target"
        except EdgeSentimentError:
            what = "refused by load_bundle"
        except Exception as exc:  # a crash on garbage: a failure
            what = f"CRASH {type(exc).__name__}: {exc}"
        out["leftovers"].append({"name": entry.name, "is": what})
    return out


def new_bundle_files(variant: int = 0) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Files and manifest for write_bundle: tiny_bundle's model, its tokenizer indented `variant` (other bytes)."""
    manifest = json.loads((TINY_BUNDLE / "manifest.json").read_text(encoding="utf-8"))
    for key in ("format", "format_version", "created", "files"):
        manifest.pop(key)
    manifest["source"] = {"model": "tests/assets/tiny_bundle", "command": MARKER}
    files = {name: (TINY_BUNDLE / name).read_bytes() for name in ("model.onnx", "tokenizer.json")}
    if variant:
        files["tokenizer.json"] = json.dumps(json.loads(files["tokenizer.json"]), indent=variant).encode("utf-8")
    return files, manifest


def reader_during_replace(workdir: Path, replaces: int = 200) -> dict[str, Any]:
    """One thread loads the bundle in a loop while the main thread replaces it `replaces` times."""
    from edge_sentiment import BundleError, load_bundle
    from edge_sentiment.export.writer import write_bundle

    target = prepare_target(workdir)
    versions = [new_bundle_files(1), new_bundle_files(4)]  # tokenizer.json of other sizes: a mix is visible
    counts: dict[str, Any] = {"replaces": replaces, "loads": 0, "refused": 0, "crashes": 0, "reasons": {}}
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                load_bundle(target)
                counts["loads"] += 1
            except BundleError as exc:
                counts["refused"] += 1
                reason = re.sub(r"\d+", "N", str(exc).split(";")[0].split(":")[0].replace(str(target), "BUNDLE"))
                counts["reasons"][reason] = counts["reasons"].get(reason, 0) + 1
            except Exception as exc:  # anything but BundleError is a failure
                counts["crashes"] += 1
                counts["reasons"][f"{type(exc).__name__}: {exc}"] = 1

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(replaces):
            write_bundle(target, *versions[i % 2], force=True)
    finally:
        stop.set()
        thread.join()
    counts["final"] = inspect_target(target)["state"]
    return counts


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "EDGE_SENTIMENT_DATA"}  # never the real IMDB data
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


class _Lines:
    """Reads a child's stdout on a thread, so the parent can wait for a phase with a timeout."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, phase: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                return False
            if line is None:
                return False
            self.lines.append(line)
            if line.split()[:2] == ["phase", phase]:
                return True

    def rest(self) -> list[str]:
        while (line := self._queue.get(timeout=60)) is not None:
            self.lines.append(line)
        return self.lines


def _spawn(mode: str, args: dict[str, Any], prefix: list[str] | None = None) -> tuple[subprocess.Popen[str], _Lines, list[str]]:
    proc = subprocess.Popen(
        [*(prefix or []), sys.executable, str(SCRIPT), "_child", mode, json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(),
        cwd=ROOT,
    )
    stderr: list[str] = []
    threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True).start()  # type: ignore[arg-type]
    return proc, _Lines(proc.stdout), stderr


def _phases(lines: list[str]) -> dict[str, float]:
    """Phase name -> the child's monotonic clock when it got there."""
    return {line.split()[1]: float(line.split()[2]) for line in lines if line.startswith("phase ")}


# Points inside write_bundle (the only part of an export that writes) where a child kills itself.
KILL_POINTS = {  # point -> the state the target must be in afterwards
    "none": "new",
    "after-mkdtemp": "old",
    "mid-model-write": "old",
    "after-model-write": "old",
    "after-tokenizer-write": "old",
    "mid-manifest-write": "old",
    "during-verification": "old",
    "after-fsync": "old",
    "after-swap": "new",
    "during-cleanup": "new",
    "fallback-after-second-rename": "new",
    "fallback-after-first-rename": "old or new",  # two-rename fallback: no atomic exchange
}


def kill_point_trial(workdir: Path, point: str) -> dict[str, Any]:
    """write_bundle over a good bundle in a child that SIGKILLs itself at `point` (no TensorFlow needed)."""
    target = prepare_target(workdir)
    proc, lines, stderr = _spawn("write", {"target": str(target), "point": point})
    proc.wait(timeout=120)
    phases = _phases(lines.rest())
    return {
        "point": point,
        "killed": proc.returncode == -signal.SIGKILL,
        "returncode": proc.returncode,
        "phases": list(phases),
        "stderr": "".join(stderr)[-2000:],
        **inspect_target(target),
    }


def kill_export_trial(workdir: Path, seed: int, window: str = "export", span: float | None = None) -> dict[str, Any]:
    """Export tiny_run over a good bundle (force) in a child; SIGKILL it after a seeded random delay.

    window "export": the delay runs from the end of the imports, over the whole export;
    window "write": from the start of write_bundle, over the short writing step.
    """
    rng = random.Random(seed)
    delay = rng.uniform(0.0, span if span is not None else (1.5 if window == "export" else 0.02))
    target = prepare_target(workdir)
    proc, lines, stderr = _spawn("export", {"target": str(target)})
    anchor = "ready" if window == "export" else "write-start"
    reached = lines.wait_for(anchor, timeout=300)
    if reached:
        time.sleep(delay)
    proc.kill()
    proc.wait(timeout=60)
    phases = _phases(lines.rest())
    landed = (
        "after the export finished"
        if "exit" in phases
        else "after the swap"
        if "swapped" in phases
        else "while writing"
        if "write-start" in phases
        else "before writing"
    )
    spans = (("export_seconds", "ready", "write-start"), ("write_seconds", "write-start", "swapped"))
    took = {name: round(phases[b] - phases[a], 4) for name, a, b in spans if a in phases and b in phases}
    return {
        "seed": seed,
        "window": window,
        "delay": round(delay, 4),
        "anchor_reached": reached,
        "killed": proc.returncode == -signal.SIGKILL,
        "landed": landed,
        "phases": list(phases),
        **took,
        "stderr": "".join(stderr)[-2000:],
        **inspect_target(target),
    }


def mounts_work() -> bool:
    """Can this process mount a tmpfs in a private mount namespace (root with CAP_SYS_ADMIN)?"""
    if not shutil.which("unshare") or os.geteuid() != 0:
        return False
    with tempfile.TemporaryDirectory() as d:
        run = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", d],
            capture_output=True,
        )
        return run.returncode == 0


def fault_kinds(mounts: bool, full: bool = False) -> list[str]:
    """Disk-full and read-only faults: real mounts where permitted, else RLIMIT_FSIZE and a patched os.mkdir."""
    if not mounts:
        return ["efbig:0", "efbig:4096", "erofs-simulated"] if full else ["efbig:4096", "erofs-simulated"]
    if full:
        return [
            "efbig:0",
            "efbig:4096",
            "enospc:0",
            "enospc:4096",
            "enospc:8192",
            "enospc:12288",
            "enospc:16384",
            "ro-parent",
            "ro-target",
        ]
    return ["efbig:4096", "enospc:12288", "ro-parent", "ro-target"]


def fault_trials(workdir: Path, kinds: list[str], mounts: bool) -> list[dict[str, Any]]:
    """One child (in a private mount namespace when mounts work) runs `edge-sentiment export --force` per fault."""
    prefix = ["unshare", "-m", "--propagation", "private"] if mounts else None
    proc, lines, stderr = _spawn("faults", {"workdir": str(workdir), "kinds": kinds}, prefix)
    proc.wait(timeout=900)
    results = [json.loads(line[7:]) for line in lines.rest() if line.startswith("result ")]
    if len(results) != len(kinds):
        raise RuntimeError(
            f"the fault child ended ({proc.returncode}) after {len(results)} of {len(kinds)} faults:\n" + "".join(stderr)[-4000:]
        )
    return results


# -- the child side -------------------------------------------------------------------------------


def _phase(name: str) -> None:
    print(f"phase {name} {time.monotonic():.6f}", flush=True)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _install_kill_point(point: str) -> None:
    import pathlib

    from edge_sentiment.export import writer
    from edge_sentiment.runtime import files

    def after(owner: Any, name: str, when: Any = lambda *a: True) -> None:
        real = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            if when(*args):
                _die()
            return result

        setattr(owner, name, wrapper)

    def half(owner: Any, name: str, file: str, mode: str) -> None:
        real = getattr(owner, name)

        def wrapper(self: Path, data: Any, *args: Any, **kwargs: Any) -> Any:
            if self.name == file:
                with open(self, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
                    fh.write(data[: len(data) // 2])
                    fh.flush()
                _die()
            return real(self, data, *args, **kwargs)

        setattr(owner, name, wrapper)

    if point.startswith("fallback-"):
        files._renameat2 = None
        calls = [0]
        nth = 1 if point == "fallback-after-first-rename" else 2

        def counted(*args: Any) -> bool:
            calls[0] += 1
            return calls[0] == nth

        after(os, "rename", counted)
    elif point == "after-mkdtemp":
        after(tempfile, "mkdtemp")
    elif point == "mid-model-write":
        half(pathlib.Path, "write_bytes", "model.onnx", "wb")
    elif point in ("after-model-write", "after-tokenizer-write"):
        name = "model.onnx" if point == "after-model-write" else "tokenizer.json"
        after(pathlib.Path, "write_bytes", lambda self, *a: self.name == name)
    elif point == "mid-manifest-write":
        half(pathlib.Path, "write_text", "manifest.json", "w")
    elif point == "during-verification":
        writer.load_bundle = lambda *a, **k: _die()  # the verification write_bundle runs before the swap
    elif point == "after-fsync":
        after(files, "fsync_tree")
    elif point == "after-swap":
        after(files, "_swap")
    elif point == "during-cleanup":

        def remove_one_then_die(path: Any, *args: Any, **kwargs: Any) -> None:
            first = sorted(Path(path).iterdir())[0]
            first.unlink()
            _die()

        shutil.rmtree = remove_one_then_die  # the global one: files.py may import shutil inside the function
    elif point != "none":
        raise SystemExit(f"unknown kill point {point!r}")


def _child_write(args: dict[str, Any]) -> None:
    from edge_sentiment.export.writer import write_bundle

    files, manifest = new_bundle_files()
    _install_kill_point(args["point"])
    _phase("write-start")
    write_bundle(args["target"], files, manifest, force=True)
    _phase("exit")


def _child_export(args: dict[str, Any]) -> None:
    import tensorflow  # noqa: F401  (imported now, so "ready" means the export itself comes next)
    import tf2onnx  # noqa: F401

    from edge_sentiment.export import exporter
    from edge_sentiment.runtime import files

    real_write, real_swap = exporter.write_bundle, files._swap

    def write(*a: Any, **k: Any) -> Any:
        _phase("write-start")
        return real_write(*a, **k)

    def swap(*a: Any) -> None:
        real_swap(*a)
        _phase("swapped")

    exporter.write_bundle, files._swap = write, swap
    _phase("ready")
    exporter.export_bundle(TINY_RUN, args["target"], parity_samples=16, force=True, command=MARKER)
    _phase("exit")


def _child_faults(args: dict[str, Any]) -> None:
    import errno
    import resource

    import tensorflow  # noqa: F401
    from click.testing import CliRunner

    from edge_sentiment.cli import main

    def sh(*cmd: str) -> None:
        subprocess.run(cmd, check=True, capture_output=True)

    for kind in args["kinds"]:
        base = Path(args["workdir"]) / kind.replace(":", "-")
        base.mkdir(parents=True)
        name, _, value = kind.partition(":")
        undo: list[Any] = []
        if name == "enospc":  # a tiny tmpfs, filled until `value` bytes are free
            sh("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(base))
            target = prepare_target(base)
            st = os.statvfs(base)
            (base / "filler").write_bytes(b"\0" * (st.f_bavail * st.f_frsize - int(value)))
        else:
            target = prepare_target(base)
        if name == "efbig":  # no file may grow past `value` bytes; writes fail with EFBIG
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
            resource.setrlimit(resource.RLIMIT_FSIZE, (int(value), hard))
            undo.append(lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard)))
        elif name in ("ro-parent", "ro-target"):  # a read-only bind mount of the folder or of the bundle itself
            ro = target.parent if name == "ro-parent" else target
            sh("mount", "--bind", str(ro), str(ro))
            sh("mount", "-o", "remount,bind,ro", str(ro))
        elif name == "erofs-simulated":  # where mounting is not permitted: os.mkdir fails as on a read-only disk
            real_mkdir = os.mkdir

            def mkdir(path: Any, *a: Any, **k: Any) -> None:
                if str(path).startswith(str(target.parent)):
                    raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
                real_mkdir(path, *a, **k)

            os.mkdir = mkdir  # type: ignore[assignment]
            undo.append(lambda: setattr(os, "mkdir", real_mkdir))
        start = time.perf_counter()
        result = CliRunner().invoke(main, ["export", str(TINY_RUN), "--out", str(target), "--force", "--parity-samples", "16"])
        seconds = time.perf_counter() - start
        for fn in undo:
            fn()
        crash = result.exception is not None and not isinstance(result.exception, SystemExit)
        report = {
            "kind": kind,
            "exit_code": result.exit_code,
            "output": result.output.strip()[-600:],
            "traceback": crash or "Traceback" in result.output,
            "seconds": round(seconds, 1),
            **inspect_target(target),
        }
        report["leftovers"] = [x for x in report["leftovers"] if x["name"] != "filler"]
        print("result " + json.dumps(report), flush=True)


def _child(mode: str, raw: str) -> None:
    {"write": _child_write, "export": _child_export, "faults": _child_faults, "huge": _child_huge}[mode](json.loads(raw))


# -- counting the cases the other test files prove ------------------------------------------------


def pytest_counts(path: str, select: str) -> dict[str, Any]:
    """Collect and run `pytest path -k select`; the cases (parametrize ids) and the pass/fail counts."""
    base = [sys.executable, "-m", "pytest", path, "-k", select, "-q", "-p", "no:cacheprovider"]
    collected = subprocess.run([*base, "--collect-only"], capture_output=True, text=True, cwd=ROOT, env=_child_env())
    ids = [line for line in collected.stdout.splitlines() if "::" in line]
    run = subprocess.run(base, capture_output=True, text=True, cwd=ROOT, env=_child_env())
    last = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)", last)}
    return {"command": f"pytest {path} -k {select!r}", "collected": len(ids), "ids": ids, **counts, "summary": last}


# -- the whole run --------------------------------------------------------------------------------


def run_all(fuzz_examples: int, random_texts: int, kill_trials: int, seed: int) -> dict[str, Any]:
    from edge_sentiment import Predictor

    predictor = Predictor.load(TINY_BUNDLE)
    out: dict[str, Any] = {}
    say = lambda msg: print(f"  {msg} ...", file=sys.stderr, flush=True)  # noqa: E731
    say(f"fuzzing: {fuzz_examples} hypothesis examples")
    out["fuzz"] = run_fuzz(predictor, fuzz_examples, seed)
    say(f"fuzzing: {random_texts} seeded random texts")
    out["random"] = run_random(predictor, random_texts, seed)
    say("10 MB reviews")
    out["big"] = {name: measure(predictor, make(10 * MB)) for name, make in BIG_SHAPES.items()}
    say("10 MB reviews, resident memory (fresh processes)")
    out["big_rss"] = {consumer: huge_text_rss(consumer) for consumer in ("predictor", "text-model")}
    say("64 threads")
    out["threads"] = concurrency(predictor, 64, 4)
    with tempfile.TemporaryDirectory(prefix="edge-reliability-") as tmp:
        say("a reader while the bundle is replaced")
        out["readers"] = reader_during_replace(Path(tmp), 200)
    say("tampered bundles and hostile archives (pytest)")
    out["tamper"] = pytest_counts("tests/test_bundle.py", "tampered")
    out["hostile"] = pytest_counts("tests/test_data.py", "hostile")
    out["hostile_bundles"] = pytest_counts("tests/test_hostile_bundles.py", "non_regular or fifo or verify")
    out["damaged"] = pytest_counts(
        "tests/test_data.py",
        "truncated or cut_in_half or gzip_trailer or corrupted or not_an_archive or folder_symlink or folder_oversized",
    )
    with tempfile.TemporaryDirectory(prefix="edge-reliability-") as tmp:
        say(f"SIGKILL at {len(KILL_POINTS)} points of write_bundle")
        out["kill_points"] = [kill_point_trial(Path(tmp) / f"point-{p}", p) for p in KILL_POINTS]
        out["kills"] = []
        spans = {"export": 1.5, "write": 0.02}  # then 1.2 x what the last trial that got that far took
        for i in range(kill_trials):
            window = "export" if i % 2 == 0 else "write"
            say(f"SIGKILL export trial {i + 1}/{kill_trials} ({window}, delay < {spans[window]:.3f} s)")
            trial = kill_export_trial(Path(tmp) / f"kill-{i}", seed * 1000 + i, window, spans[window])
            trial["span"] = spans[window]
            out["kills"].append(trial)
            for key, name in (("export_seconds", "export"), ("write_seconds", "write")):
                if key in trial:
                    spans[name] = round(1.2 * trial[key], 4)
        mounts = mounts_work()
        out["mounts"] = mounts
        say("disk-full and read-only exports")
        out["faults"] = fault_trials(Path(tmp) / "faults", fault_kinds(mounts, full=True), mounts)
    return out


def fault_ok(r: dict[str, Any]) -> bool:
    """A fault must fail with the package's one-line error, keep the old bundle intact, leave nothing behind."""
    return (
        r["exit_code"] == 1
        and r["output"].splitlines()[-1].startswith("Error:")
        and not r["traceback"]
        and r["state"] == "old"
        and r["verifies"]
        and not r["leftovers"]
    )


def _point_ok(p: dict[str, Any]) -> bool:
    return p["state"] in KILL_POINTS[p["point"]].split(" or ") and p["verifies"] and p["killed"] == (p["point"] != "none")


def rows(r: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(check, tried, result, ok) for the summary table."""
    fz, rn, th, rd = r["fuzz"], r["random"], r["threads"], r["readers"]
    big_ok = [v["ok"] and v["seconds"] < 30 and v["peak_mb"] < 200 for v in r["big"].values()]
    worst = max(r["big"].items(), key=lambda kv: kv[1]["peak_mb"])
    slowest = max(r["big"].items(), key=lambda kv: kv[1]["seconds"])
    points = [p for p in r["kill_points"] if p["point"] != "fallback-after-first-rename"]
    fallback = next(p for p in r["kill_points"] if p["point"] == "fallback-after-first-rename")
    kills = r["kills"]
    landed = {
        k: sum(t["landed"] == k for t in kills)
        for k in ("before writing", "while writing", "after the swap", "after the export finished")
    }
    leftovers = [x for t in kills + points for x in t["leftovers"]]
    disk = [f for f in r["faults"] if f["kind"].startswith(("efbig", "enospc"))]
    ro = [f for f in r["faults"] if not f["kind"].startswith(("efbig", "enospc"))]

    def cases(name: str) -> tuple[str, str, bool]:
        c = r[name]
        return (f"{c['collected']} cases", f"{c.get('passed', 0)} passed: {c['command']}", c.get("passed") == c["collected"] > 0)

    def faults(fs: list[dict[str, Any]]) -> tuple[str, str, bool]:
        return (
            f"{len(fs)} exports",
            f"{sum(map(fault_ok, fs))} clean errors, old bundle kept, no temp folder ({', '.join(f['kind'] for f in fs)})",
            all(map(fault_ok, fs)),
        )

    return [
        (
            "fuzz: hypothesis properties",
            f"{fz['texts']:,} texts",
            f"{fz['errors']} errors in {fz['examples']:,} "
            f"examples (lists of 1-8); longest {fz['max_chars']:,} chars; {fz['seconds']} s",
            fz["errors"] == 0,
        ),
        (
            "fuzz: seeded random strings",
            f"{rn['texts']:,} texts",
            f"{rn['errors']} errors (batches of 1-8); longest {rn['max_chars']:,} chars; {rn['seconds']} s",
            rn["errors"] == 0,
        ),
        (
            "10 MB reviews",
            f"{len(big_ok)} shapes",
            f"{sum(big_ok)} within 30 s and 200 MB; most heap "
            f"{worst[1]['peak_mb']} MB ({worst[0]}); slowest {slowest[1]['seconds']} s ({slowest[0]})",
            all(big_ok),
        ),
        *(
            (
                f"10 MB reviews, RSS: {consumer}",
                f"{len(res)} shapes",
                f"{sum(v['ok'] and v['peak_rss_growth_mb'] < 150 for v in res.values())} under 150 MB more RSS; most "
                f"{max(v['peak_rss_growth_mb'] for v in res.values())} MB; "
                f"refused {sum(bool(v['refused']) for v in res.values())} (last max_len words not within 1 Mi chars)",
                all(v["ok"] and v["peak_rss_growth_mb"] < 150 for v in res.values()),
            )
            for consumer, res in r.get("big_rss", {}).items()
        ),
        (
            "64 threads, one Predictor",
            f"{th['calls']:,} calls",
            f"bitwise identical to a sequential run: {'yes' if th['identical'] else 'NO'}",
            th["identical"],
        ),
        (
            "load while the bundle is replaced",
            f"{rd['loads'] + rd['refused'] + rd['crashes']:,} loads",
            f"{rd['loads']:,} verified, {rd['refused']} refused (BundleError: mixed old/new files), "
            f"{rd['crashes']} crashes; {rd['replaces']} replaces",
            rd["refused"] == rd["crashes"] == 0,
        ),
        ("tampered bundles refused", *cases("tamper")),
        ("hostile archives refused", *cases("hostile")),
        *([("hostile bundle folders refused", *cases("hostile_bundles"))] if "hostile_bundles" in r else []),
        ("damaged archives refused", *cases("damaged")),
        (
            "SIGKILL at fixed write steps",
            f"{len(points)} points",
            f"{sum(map(_point_ok, points))} left the expected bundle (old before the swap, new after), verified",
            all(map(_point_ok, points)),
        ),
        (
            "SIGKILL at random times",
            f"{len(kills)} exports",
            f"{sum(t['state'] in ('old', 'new') and t['verifies'] for t in kills)} verifiable "
            f"(old {sum(t['state'] == 'old' for t in kills)}, new {sum(t['state'] == 'new' for t in kills)}); "
            "killed " + ", ".join(f"{v} {k}" for k, v in landed.items() if v),
            all(t["state"] in ("old", "new") and t["verifies"] for t in kills),
        ),
        (
            "leftover .bundle.tmp-* folders",
            f"{len(leftovers)}",
            f"{sum('refused' in x['is'] for x in leftovers)} refused by load_bundle, "
            f"{sum('complete' in x['is'] for x in leftovers)} complete copies; none at the bundle path",
            not any("CRASH" in x["is"] for x in leftovers),
        ),
        (
            "SIGKILL between fallback renames",
            "1 point",
            f"bundle path {fallback['state']}; {len(fallback['leftovers'])} .bundle.tmp-* folders hold the bundles",
            _point_ok(fallback),
        ),
        ("disk full during export", *faults(disk)),
        ("read-only during export", *faults(ro)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz-examples", type=int, default=2_000, help="hypothesis examples (lists of 1-8 texts)")
    parser.add_argument("--random-texts", type=int, default=100_000, help="seeded random hostile texts")
    parser.add_argument("--kill-trials", type=int, default=20, help="exports SIGKILLed at a random time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print every figure as JSON")
    parser.add_argument("--json-file", type=Path, help="also write every figure as JSON to this file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = run_all(args.fuzz_examples, args.random_texts, args.kill_trials, args.seed)
    table = rows(results)
    meta = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "command": " ".join(["tools/maintenance/reliability.py", *(argv if argv is not None else sys.argv[1:])]),
        "seconds": round(time.perf_counter() - started),
    }
    for p in results["tamper"], results["hostile"], results["damaged"]:
        p.pop("ids")
    everything = json.dumps(
        {**meta, "rows": [dict(zip(("check", "tried", "result", "ok"), r)) for r in table], **results}, indent=1, default=str
    )
    if args.json_file:
        args.json_file.write_text(everything + "\n", encoding="utf-8")
    if args.json:
        print(everything)
    else:
        print(f"edge-sentiment reliability: {meta['date']}; {meta['machine']}; {meta['seconds']} s")
        print(f"command: {meta['command']}\n")
        w = [max(len(r[i]) for r in table) for i in range(2)]
        print(f"{'check':{w[0]}}  {'tried':>{w[1]}}  ok  result")
        for check, tried, result, ok in table:
            print(f"{check:{w[0]}}  {tried:>{w[1]}}  {'✓' if ok else '✗'}   {result}")
        if not all(r[3] for r in table):
            print("\n✗ = a guarantee failed; details: --json")
    return 0 if all(r[3] for r in table) else 1


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_child":
        _child(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())

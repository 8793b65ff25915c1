"""Reliability: any text gives a probability, non-text is refused, threads agree, and no kill or fault loses a bundle.

The trials live in tools/maintenance/reliability.py, which runs them larger and prints the figures of docs/reliability.md.
Tampered bundles and hostile archives are proved in test_bundle.py and test_data.py, not here.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ASSETS, needs_tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_sentiment import InputError, Predictor, load_bundle
from edge_sentiment.runtime import files as files_module
from edge_sentiment.export.writer import write_bundle
from edge_sentiment.runtime.predictor import CHUNK
from tools.maintenance import reliability as harness  # the trials; pytest's pythonpath (pyproject.toml) holds the root

TINY_BUNDLE = ASSETS / "tiny_bundle"
MB = 1024 * 1024
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor.load(TINY_BUNDLE)


# -- any text gives a probability ---------------------------------------------------------------


@FUZZ
@given(harness.hostile_texts())
def test_any_text_scores_one_finite_probability(predictor: Predictor, text: str) -> None:
    harness.check_text(predictor, text)


@FUZZ
@given(st.lists(harness.hostile_texts(), max_size=8))
def test_any_list_of_texts_scores_shape_n_equal_to_one_by_one(predictor: Predictor, texts: list[str]) -> None:
    if texts:
        harness.check_batch(predictor, texts)
    else:
        assert predictor.predict_proba(texts).shape == (0,)


@FUZZ
@given(st.text(st.characters(blacklist_categories=())))
def test_encode_never_raises_and_ids_are_in_range(predictor: Predictor, text: str) -> None:
    ids = predictor.tokenizer.encode(text)
    assert len(ids) <= predictor.tokenizer.max_len
    assert all(0 <= i < predictor.tokenizer.vocab_size for i in ids)


@pytest.mark.fuzz_long
def test_fuzz_long(predictor: Predictor) -> None:
    """The properties above on EDGE_SENTIMENT_FUZZ_EXAMPLES (default 100,000) lists of 1-8 hostile texts."""
    examples = int(os.environ.get("EDGE_SENTIMENT_FUZZ_EXAMPLES", "100000"))
    result = harness.run_fuzz(predictor, examples, seed=int(os.environ.get("EDGE_SENTIMENT_FUZZ_SEED", "0")))
    assert result["examples"] == examples
    assert result["errors"] == 0, result["first_errors"]


# -- explicit hostile texts ---------------------------------------------------------------------

NO_WORDS = [
    "",
    " ",
    "\t\n\r \u00a0\u2028\u3000",
    "!!! ... ???",
    "\x00" * 1000,
    "\ud800",
    "\udc00\ud800",
    "😀👍🏽🇫🇷",
    "\u202e\u200b\ufeff",
    "<br /><i></b><p>",
]


@pytest.mark.parametrize(
    "text",
    NO_WORDS,
    ids=[
        "empty",
        "space",
        "whitespace",
        "punctuation",
        "nul-1000",
        "lone-surrogate",
        "reversed-surrogates",
        "emoji",
        "invisible",
        "tags",
    ],
)
def test_a_text_without_words_scores_like_the_empty_text(predictor: Predictor, text: str) -> None:
    assert predictor.tokenizer.encode(text) == []
    assert predictor.predict_proba(text).tobytes() == predictor.predict_proba("").tobytes()


def test_only_out_of_vocabulary_words_score_as_oov_ids(predictor: Predictor) -> None:
    text = "zzzz qqqq \ud800xyz\udfff wörtlich 日本語 " * 3
    ids = predictor.tokenizer.encode(text)
    assert ids == [1] * 15
    assert predictor.predict_proba(text)[0] == predictor.score_ids([ids])[0]


def test_one_megabyte_word_scores_as_one_oov_word(predictor: Predictor) -> None:
    assert predictor.predict_proba("x" * MB).tobytes() == predictor.predict_proba("zzzz").tobytes()
    assert predictor.predict_proba("great " + "é" * MB).tobytes() == predictor.predict_proba("great zzzz").tobytes()


@pytest.mark.parametrize("shape", list(harness.BIG_SHAPES))
def test_ten_megabyte_review_in_bounded_time_and_memory(predictor: Predictor, shape: str) -> None:
    """Each shape of 10 MB review returns a probability within 30 s and 200 MB of extra Python heap.

    "a'a'a' word" fails today: the word regex keeps a backtracking frame per apostrophe (~700 MB here).
    """
    result = harness.measure(predictor, harness.BIG_SHAPES[shape](10 * MB))
    assert result["ok"], result
    assert result["seconds"] < 30, result
    assert result["peak_mb"] < 200, result


HUGE_LIMIT_MB = 150  # peak resident memory one 10 MB text may add (the text itself aside): 1.2 GB before issue 30
TEXT_MODEL_REFUSES = {"one word", "a'a'a' word", "dots, no space"}  # 10 MB with nowhere to cut before its last words


@pytest.mark.parametrize("consumer", ["predictor", "text-model"])
def test_a_ten_megabyte_text_adds_bounded_resident_memory(consumer: str) -> None:
    """Each 10 MB shape in a fresh process: peak RSS (onnxruntime's too) grows < 150 MB, within 30 s; the
    text model is given only the end of a text that holds its last max_len words, and refuses a text
    whose last words are not within its last MAX_TEXT_CHARS (it took ~420 MB for any 10 MB text before)."""
    results = harness.huge_text_rss(consumer)
    assert set(results) == set(harness.BIG_SHAPES)
    for shape, r in results.items():
        assert r["ok"] and r["seconds"] < 30 and r["peak_rss_growth_mb"] < HUGE_LIMIT_MB, (shape, r)
    refused = {shape for shape, r in results.items() if r["refused"]}
    assert refused == (TEXT_MODEL_REFUSES if consumer == "text-model" else set()), results


CUT_FRAGMENTS = [*harness.FRAGMENTS, *'!"#$%&()*+,-;?@[\\]_{|}~=.:^`<>/', "ΑΣ", "Σ", "=\u0338", "<br", " />", "<a1 >", "x y"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(CUT_FRAGMENTS), st.text(max_size=3)), max_size=40).map("".join), st.integers(1, 3))
def test_a_text_read_in_cut_chunks_has_the_words_of_the_whole(text: str, tail: int) -> None:
    """The long-text readers, with chunks of a few characters so they cut everywhere, find exactly the
    first and last n words of words(text): no cut place changes a word, a tag, NFKC or final sigma."""
    from edge_sentiment.runtime import tokenizer as tokenizer_module

    whole = tokenizer_module.words(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tokenizer_module, "TAIL_CHARS", tail)
        for n in (1, 2, 3, 7):
            assert tokenizer_module._last_words(text, n) == whole[-n:], n
            assert tokenizer_module._first_words(text, n) == whole[:n], n
            window = tokenizer_module.text_window(text, n)
            assert tokenizer_module.words(window)[-n:] == whole[-n:], (n, window)


def test_the_text_model_reads_the_end_of_a_long_text_as_the_predictor_does() -> None:
    from edge_sentiment import TextModel
    from edge_sentiment.runtime.textmodel import MAX_TEXT_CHARS

    model, predictor = TextModel.load(TINY_BUNDLE), Predictor.load(TINY_BUNDLE)
    texts = [
        "<br />" * 400_000 + "a wonderful film, great",  # 2.4 MB, its words at the end
        "boring, " * 300_000 + "a wonderful film",
        "<i>" * 1_000_000,  # no words at all
        "great " * 100 + "<br />" * 100_000 + " great film",  # fewer than max_len words, far apart
    ]
    scores, ids = model.run(texts)
    assert ids == [predictor.tokenizer.encode(t) for t in texts]
    np.testing.assert_allclose(scores, predictor.predict_proba(texts), atol=1e-5)
    for refused in ["great." * 200_000, "great " * 100 + "!" * 1_100_000]:  # nowhere to cut; words only at the start
        with pytest.raises(InputError, match=f"text 1 is {len(refused):,} characters long.*at most {MAX_TEXT_CHARS:,}"):
            model.run(["fine", refused])


def test_a_hundred_thousand_texts_are_scored_in_chunks(predictor: Predictor) -> None:
    """A generator of 100,000 texts: one score each, and the heap stays far below holding all their ids (~10 MB)."""
    distinct = ["a wonderful film", "boring awful stupid", "", "zzz", "great great bad", "😀 \x00", "the plot"]
    reference = predictor.predict_proba(distinct * 100)[: len(distinct)]
    tracemalloc.start()
    try:
        p = predictor.predict_proba(distinct[i % len(distinct)] for i in range(100_000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert p.shape == (100_000,) and p.dtype == np.float32
    assert peak < 4 * MB, f"{peak / MB:.1f} MB: the texts were not scored in chunks of {CHUNK}"
    np.testing.assert_allclose(p, np.resize(reference, 100_000), rtol=0, atol=1e-6)


# -- what is not text -----------------------------------------------------------------------------

NOT_TEXT = [3.5, [b"x"], memoryview(b"x"), object(), iter([b"x"]), ["ok", 3.5], [["nested"]], np.array([1, 2])]


@pytest.mark.parametrize(
    "bad",
    NOT_TEXT,
    ids=["float", "list-of-bytes", "memoryview", "object", "iter-of-bytes", "str-then-float", "nested-list", "int-array"],
)
def test_what_is_not_text_is_an_input_error_naming_its_type(predictor: Predictor, bad: Any) -> None:
    with pytest.raises(InputError, match=r"\b(float|bytes|memoryview|object|list|int64)\b"):
        predictor.predict_proba(bad)


@pytest.mark.parametrize("bad", [{"text": "a great film"}, {"great": 1, "film": 2}], ids=["review-as-json", "dict"])
def test_a_dict_is_refused_not_scored_as_its_keys(predictor: Predictor, bad: dict[str, Any]) -> None:
    """A dict is refused (it is an iterable of its keys: {"text": review} would score the word "text")."""
    with pytest.raises(InputError, match="dict"):
        predictor.predict_proba(bad)


# -- threads and trust ----------------------------------------------------------------------------


def test_64_threads_on_one_predictor_match_a_sequential_run_bitwise(predictor: Predictor) -> None:
    result = harness.concurrency(predictor, threads=64, rounds=2)
    assert result["errors"] == []
    assert result["calls"] == result["expected_calls"] == 64 * 2 * 13
    assert result["mismatches"] == 0 and result["identical"]


def test_the_session_runs_the_bytes_that_were_verified(tmp_path: Path) -> None:
    """Swapping model.onnx after verification changes nothing: the session is made from the verified bytes."""
    folder = Path(shutil.copytree(TINY_BUNDLE, tmp_path / "bundle"))
    bundle = load_bundle(folder)
    (folder / "model.onnx").write_bytes(b"\x08\x07 not the model that was verified")
    p = Predictor(bundle).predict_proba("a wonderful brilliant film")
    assert p.tobytes() == Predictor.load(TINY_BUNDLE).predict_proba("a wonderful brilliant film").tobytes()


@pytest.fixture(scope="module")
def reader_race(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return harness.reader_during_replace(tmp_path_factory.mktemp("race"), replaces=100)


def test_a_load_racing_a_replace_never_runs_a_mixed_bundle(reader_race: dict[str, Any]) -> None:
    assert reader_race["crashes"] == 0, reader_race["reasons"]
    assert reader_race["loads"] > 0 and reader_race["final"] == "new"


def test_a_load_racing_a_replace_sees_one_whole_bundle(reader_race: dict[str, Any]) -> None:
    """A load racing a replace reads one whole bundle: files are read from one opened folder, and a load
    that finds its folder swapped meanwhile starts again on the new one (it used to mix old and new files)."""
    assert reader_race["refused"] == 0, reader_race["reasons"]


def test_cli_predict_shows_a_text_with_undecodable_bytes_without_a_traceback() -> None:
    """argv bytes that are not UTF-8 become surrogates; the text is shown escaped instead of raising
    UnicodeEncodeError on a strict UTF-8 stdout (as it used to)."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}  # a UTF-8 terminal: stdout errors="strict"
    run = subprocess.run(
        [sys.executable, "-m", "edge_sentiment", "predict", "--bundle", str(TINY_BUNDLE), b"\xff great film"],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert b"Traceback" not in run.stderr, run.stderr.decode(errors="replace")[-600:]
    assert run.returncode == 0 and b"great film" in run.stdout


# -- a kill while a bundle is written -----------------------------------------------------------


def _assert_a_verifiable_bundle(trial: dict[str, Any], expected: str) -> None:
    assert trial["state"] in expected.split(" or "), trial
    assert trial["verifies"], trial
    assert all(x["name"].startswith(".bundle.tmp-") for x in trial["leftovers"]), trial
    assert not any("CRASH" in x["is"] for x in trial["leftovers"]), trial


POINTS = [p for p in harness.KILL_POINTS if p != "fallback-after-first-rename"]


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_at_each_step_of_write_bundle_keeps_a_verifiable_bundle(tmp_path: Path, point: str) -> None:
    trial = harness.kill_point_trial(tmp_path, point)
    assert trial["killed"] == (point != "none"), trial
    _assert_a_verifiable_bundle(trial, harness.KILL_POINTS[point])
    if point == "none":
        assert trial["leftovers"] == []


@pytest.mark.xfail(
    strict=True,
    reason="known limit: without renameat2's atomic exchange (non-Linux, or a file "
    "system without RENAME_EXCHANGE) a SIGKILL between the two renames leaves the bundle only "
    "in .NAME.tmp-*.previous; see docs/reliability.md",
)
def test_sigkill_between_the_fallback_renames_keeps_a_bundle_at_the_path(tmp_path: Path) -> None:
    """Without renameat2, a kill between the two renames leaves no bundle at the path (a known limit)."""
    trial = harness.kill_point_trial(tmp_path, "fallback-after-first-rename")
    assert trial["killed"]
    _assert_a_verifiable_bundle(trial, "old or new")


@pytest.mark.parametrize(
    "error", [KeyboardInterrupt(), OSError(errno.EIO, "Input/output error")], ids=["KeyboardInterrupt", "EIO"]
)
def test_an_error_between_the_fallback_renames_keeps_a_bundle_at_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    """The second fallback rename failing puts the previous bundle back (it used to leave none)."""
    target = harness.prepare_target(tmp_path)
    files, manifest = harness.new_bundle_files()
    real_rename, calls = os.rename, []

    def rename(src: Any, dst: Any) -> None:
        calls.append(src)
        if len(calls) == 2:
            raise error
        real_rename(src, dst)

    monkeypatch.setattr(files_module, "_renameat2", None)
    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises((type(error), Exception)):
        write_bundle(target, files, manifest, force=True)
    monkeypatch.undo()
    assert len(calls) == 3  # target aside, the failing one, then target back
    assert target.is_dir(), f"no bundle at {target}; left: {sorted(p.name for p in tmp_path.joinpath('out').iterdir())}"
    load_bundle(target)


@needs_tf
@pytest.mark.parametrize("trial", range(3))
def test_sigkill_at_a_random_time_during_export_keeps_a_verifiable_bundle(tmp_path: Path, trial: int) -> None:
    """Export tiny_run over a good bundle, SIGKILL it after a seeded delay: once in the export, twice in the write."""
    window = "export" if trial == 0 else "write"
    result = harness.kill_export_trial(tmp_path, seed=trial, window=window)
    assert result["anchor_reached"], result["stderr"]
    _assert_a_verifiable_bundle(result, "old or new")


# -- disk full and read-only ------------------------------------------------------------------------

MOUNTS = harness.mounts_work()
FAULTS = harness.fault_kinds(MOUNTS)


@pytest.fixture(scope="module")
def fault_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """One child (TensorFlow imported once) runs `edge-sentiment export --force` under each fault."""
    start = time.perf_counter()
    results = harness.fault_trials(tmp_path_factory.mktemp("faults"), FAULTS, MOUNTS)
    assert time.perf_counter() - start < 300
    return {r["kind"]: r for r in results}


@needs_tf
@pytest.mark.parametrize("kind", FAULTS)
def test_a_fault_during_export_is_a_clean_error_and_keeps_the_old_bundle(fault_results: dict[str, Any], kind: str) -> None:
    """efbig: RLIMIT_FSIZE; enospc: a full tmpfs; ro-*: read-only bind mounts (mounts in a private namespace)."""
    r = fault_results[kind]
    assert r["exit_code"] == 1 and not r["traceback"], r["output"]
    reason = {
        "efbig": "File too large",
        "enospc": "No space left",
        "ro-parent": "Read-only file system",
        "ro-target": "busy|Read-only",
        "erofs-simulated": "Read-only file system",
    }[kind.split(":")[0]]
    last = r["output"].splitlines()[-1]
    assert last.startswith("Error: ") and re.search(reason, last), r["output"]
    assert r["state"] == "old" and r["verifies"], r
    assert r["leftovers"] == [], r

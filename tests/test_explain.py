"""Word attributions (runtime/explain.py, `predict --explain`): effects are score differences by leaving a word out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge_sentiment import Predictor
from edge_sentiment.cli import main
from edge_sentiment.cli import predict as predict_cli
from edge_sentiment.errors import InputError
from edge_sentiment.runtime.explain import MAX_EXPLAIN_CHARS

ASSETS = Path(__file__).resolve().parent / "assets"
TINY = ASSETS / "tiny_bundle"  # two labels, max_len 40, its own tokenizer: an unknown word is id 1
KERAS_IMDB = ASSETS / "kinds" / "keras-imdb"  # keras.datasets.imdb ids: a word not in its index is dropped
THREE = ASSETS / "shapes" / "three-class"

TEXT = "The movie was  wonderful, a loved story\n but the ending dull"
# the text without each word by hand: the word and the whitespace run after it (before it, for the last word)
VARIANTS = [
    "movie was  wonderful, a loved story\n but the ending dull",
    "The was  wonderful, a loved story\n but the ending dull",
    "The movie wonderful, a loved story\n but the ending dull",
    "The movie was  a loved story\n but the ending dull",
    "The movie was  wonderful, loved story\n but the ending dull",
    "The movie was  wonderful, a story\n but the ending dull",
    "The movie was  wonderful, a loved but the ending dull",
    "The movie was  wonderful, a loved story\n the ending dull",
    "The movie was  wonderful, a loved story\n but ending dull",
    "The movie was  wonderful, a loved story\n but the dull",
    "The movie was  wonderful, a loved story\n but the ending",
]


@pytest.fixture(scope="module")
def tiny() -> Predictor:
    return Predictor.load(TINY, threads=1)


def test_effects_are_score_differences_computed_by_hand(tiny: Predictor) -> None:
    result = tiny.explain(TEXT, top=3)
    p = tiny.predict_proba([TEXT, *VARIANTS])
    assert [w.word for w in result.words] == TEXT.split()
    assert all(TEXT[w.start : w.end] == w.word for w in result.words)
    assert [w.effect for w in result.words] == pytest.approx([float(p[0]) - float(v) for v in p[1:]], abs=1e-6)
    assert result.score == pytest.approx(float(tiny.predict_proba(TEXT)[0]), abs=1e-6)
    assert result.label == tiny.predict(TEXT)[0].label and result.towards == "positive"
    assert result.variants == len(VARIANTS) and result.examined == len(VARIANTS) and result.unchanged == 0
    # the tops: the largest effects of each sign, largest first, at most `top`
    effects = sorted((w.effect or 0.0 for w in result.words), reverse=True)
    assert [w.effect for w in result.top_positive] == [e for e in effects if e > 0][:3]
    assert [w.effect for w in result.top_negative] == sorted(e for e in effects if e < 0)[:3]
    assert result.ms > 0 and result.note is None


def test_effects_follow_the_bundles_calibration_and_labels(tmp_path: Path) -> None:
    folder = tmp_path / "calibrated"
    shutil.copytree(TINY, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest |= {"calibration": {"temperature": 4.0, "bias": 0.5}, "uncertain": {"low": 0.01, "high": 0.99}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    calibrated, raw = Predictor.load(folder, threads=1), Predictor.load(folder, threads=1, calibrated=False)
    result, plain = calibrated.explain(TEXT), raw.explain(TEXT)
    p = calibrated.predict_proba([TEXT, *VARIANTS])
    assert [w.effect for w in result.words] == pytest.approx([float(p[0]) - float(v) for v in p[1:]], abs=1e-6)
    assert result.words != plain.words and result.score != plain.score
    assert result.label == calibrated.predict(TEXT)[0].label == "uncertain" and result.towards == "positive"


def test_one_batch_through_the_session(tiny: Predictor, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    score_ids = tiny.score_ids
    monkeypatch.setattr(tiny, "score_ids", lambda ids: calls.append(len(ids)) or score_ids(ids))
    tiny.explain(TEXT)
    assert calls == [1 + len(VARIANTS)]


def test_a_word_the_tokenizer_drops_gets_zero_without_a_variant_scored(monkeypatch: pytest.MonkeyPatch) -> None:
    predictor = Predictor.load(KERAS_IMDB, threads=1)
    text = "a wonderful zebra movie"  # keras.datasets.imdb's index has no "zebra": its ids skip it
    scored: list[list[int]] = []
    score_ids = predictor.score_ids
    monkeypatch.setattr(predictor, "score_ids", lambda ids: scored.extend(ids) or score_ids(ids))
    result = predictor.explain(text)
    zebra = result.words[2]
    assert zebra.word == "zebra" and zebra.effect == 0.0
    assert result.unchanged == 1 and result.variants == 3
    assert predictor.tokenizer.encode("a wonderful movie") == predictor.tokenizer.encode(text)  # why it is 0
    assert scored.count(predictor.tokenizer.encode(text)) == 1  # the original only: its copy was never scored
    p = predictor.predict_proba([text, "wonderful zebra movie", "a zebra movie", "a wonderful zebra"])
    others = [w.effect for w in result.words if w.word != "zebra"]
    assert others == pytest.approx([float(p[0]) - float(v) for v in p[1:]], abs=1e-6)


def test_punctuation_and_repeated_words(tiny: Predictor) -> None:
    result = tiny.explain("a - wonderful wonderful film <br /> !")
    by_word = {w.word: w.effect for w in result.words}
    assert by_word["-"] == by_word["!"] == by_word["<br"] == 0.0  # "film /> !" has the ids of "film <br /> !"
    # without "/>", "<br" is no tag but the word "br" (an unknown word, id 1): the ids change, it is scored
    assert by_word["/>"] != 0.0
    assert result.unchanged == 3
    # leaving out either "wonderful" gives the same ids: one variant scored for both, the same effect
    assert result.words[2].effect == result.words[3].effect != 0.0
    assert result.variants == 4  # "a", one "wonderful", "film", "/>"


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_no_words(tiny: Predictor, text: str) -> None:
    result = tiny.explain(text)
    assert result.words == () and result.top_positive == () == result.top_negative
    assert result.variants == 0 and result.examined == 0
    assert result.score == pytest.approx(float(tiny.predict_proba("")[0]), abs=1e-6)
    assert "no words" in (result.note or "")
    assert result.marked() == text


def test_one_word(tiny: Predictor) -> None:
    result = tiny.explain("  terrible ")
    p = tiny.predict_proba(["  terrible ", "  "])
    (word,) = result.words
    assert (word.word, word.start, word.end) == ("terrible", 2, 10)
    assert word.effect == pytest.approx(float(p[0] - p[1]), abs=1e-6) and word.effect < 0
    assert result.top_negative == (word,) and result.top_positive == ()
    assert result.marked() == "  [-terrible] "


def test_long_text_examines_only_the_words_the_tokenizer_reads(tiny: Predictor) -> None:
    text = " ".join(["wonderful film", "terrible plot", "dull"] * 2000)  # 10,000 words; the tokenizer keeps 40
    result = tiny.explain(text)
    assert len(result.words) == 10_000 and result.examined == 40 and result.variants <= 40
    assert all(w.effect == 0.0 for w in result.words[:-40])
    assert any(w.effect for w in result.words[-40:])
    assert "9,960 words at the text's start are not read by the tokenizer" in (result.note or "")
    assert all(w.start >= result.words[-40].start for w in result.top_positive + result.top_negative)
    # fewer examined words than the tokenizer reads: the others' effects are unknown, and the note says so
    capped = tiny.explain(text, max_words=10)
    assert capped.examined == 10 and all(w.effect is None for w in capped.words[-40:-10])
    assert all(w.effect == 0.0 for w in capped.words[:-40])
    assert "30 words the tokenizer may read were not examined (max_words 10): effect None" in (capped.note or "")
    assert [w.effect for w in capped.words[-10:]] == [w.effect for w in result.words[-10:]]


@pytest.mark.parametrize(
    ("bundle", "read"),
    [(TINY, slice(-40, None)), (KERAS_IMDB, slice(-40, None)), (ASSETS / "kinds" / "keras-text-vectorization", slice(0, 40))],
    ids=["own-keeps-last", "keras-imdb-keeps-last", "text-vectorization-keeps-first"],
)
def test_long_text_on_each_tokenizer_kind(bundle: Path, read: slice) -> None:
    predictor = Predictor.load(bundle, threads=1)
    text = " ".join(["wonderful film", "terrible plot", "dull", "loved the cast"] * 250)  # 2,000 words
    result = predictor.explain(text)
    examined = range(len(result.words))[read]
    assert result.examined == 40 and sum(w.effect is None for w in result.words) <= 1  # keras-imdb: its start mark
    assert all(w.effect == 0.0 for i, w in enumerate(result.words) if i not in examined and w.effect is not None)
    spans = [(w.start, w.end) for w in result.words]
    for i in (examined[0], examined[17], examined[-1]):  # a few by hand: the text without word i
        start, end = spans[i]
        variant = text[:start] + text[end + 1 :] if i + 1 < len(spans) else text[: start - 1]
        p = predictor.predict_proba([text, variant])
        assert result.words[i].effect == pytest.approx(float(p[0] - p[1]), abs=1e-6)


def test_three_classes_explain_the_predicted_class(monkeypatch: pytest.MonkeyPatch) -> None:
    predictor = Predictor.load(THREE, threads=1)
    text = "a wonderful film but a dull ending"
    result = predictor.explain(text)
    variants = [" ".join(w for j, w in enumerate(text.split()) if j != i) for i in range(7)]
    p = predictor.predict_proba([text, *variants])
    k = int(np.argmax(p[0]))
    assert result.label == predictor.labels[k] == result.towards
    assert result.probabilities == pytest.approx(tuple(p[0]), abs=1e-6)
    assert [w.effect for w in result.words] == pytest.approx([float(p[0, k] - v[k]) for v in p[1:]], abs=1e-6)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: p.explain(b"bytes"), "explain takes one text (str), got bytes"),
        (lambda p: p.explain(["a", "b"]), "got list; call it once per text"),
        (lambda p: p.explain("a", top=-1), "top must be a whole number of at least 0, got -1"),
        (lambda p: p.explain("a", top=True), "top must be a whole number"),
        (lambda p: p.explain("a", max_words=0), "max_words must be a whole number of at least 1, got 0"),
        (lambda p: p.explain("a " * (MAX_EXPLAIN_CHARS // 2 + 1)), "takes at most 1,048,576 characters"),
    ],
)
def test_refused(tiny: Predictor, call: object, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(tiny)  # type: ignore[operator]


def _cli(*args: str, input: str | None = None) -> object:
    return CliRunner().invoke(main, ["predict", "--bundle", str(TINY), "--threads", "1", *args], input=input)


def test_cli_marks_the_top_words_in_plain_text(tiny: Predictor) -> None:
    result = _cli("--explain", "--top", "2", TEXT)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    expected = tiny.explain(TEXT, top=2)
    lines = result.output.splitlines()  # type: ignore[attr-defined]
    assert lines[0] == f"{expected.label:<8}  {expected.score:.4f}  {expected.marked().splitlines()[0]}"
    marks = [f"[+{w.word}]" for w in expected.top_positive] + [f"[-{w.word}]" for w in expected.top_negative]
    assert all(mark in result.output for mark in marks) and "\x1b[" not in result.output  # type: ignore[attr-defined]
    assert sum(result.output.count(c) for c in ("[+", "[-")) == 4  # type: ignore[attr-defined]
    listed = " | ".join(f"{w.word} {w.effect:+.4f}" for w in expected.top_negative)
    assert f"  - (away from positive): {listed}" in lines


@pytest.mark.parametrize("coloured", [True, False])
def test_cli_colour_or_markers(monkeypatch: pytest.MonkeyPatch, coloured: bool) -> None:
    monkeypatch.setattr(predict_cli, "_colour", lambda: coloured)
    result = CliRunner().invoke(main, ["predict", "--bundle", str(TINY), "--explain", TEXT], color=True)
    assert result.exit_code == 0
    assert ("\x1b[32m" in result.output) is coloured and ("\x1b[31m" in result.output) is coloured
    assert ("[+" in result.output) is not coloured and ("[-" in result.output) is not coloured


def test_cli_colour_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(predict_cli.sys, "stdout", Tty())
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert predict_cli._colour()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not predict_cli._colour()


def test_cli_json_has_every_word_and_its_effect(tiny: Predictor) -> None:
    result = _cli("--explain", "--json", TEXT, "dull")
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.output.splitlines()]  # type: ignore[attr-defined]
    assert [r["index"] for r in rows] == [0, 1]
    row = rows[0]
    assert set(row) == {"index", "label", "score", "towards", "words", "top_positive", "top_negative", "variants",
                        "examined", "unchanged", "ms", "note"}  # fmt: skip
    expected = tiny.explain(TEXT)
    assert [(w["word"], w["start"], w["end"]) for w in row["words"]] == [(w.word, w.start, w.end) for w in expected.words]
    assert [w["effect"] for w in row["words"]] == pytest.approx([w.effect for w in expected.words], abs=1e-6)
    assert row["label"] == expected.label and row["variants"] == len(VARIANTS)
    assert [w["word"] for w in row["top_negative"]] == [w.word for w in expected.top_negative]


def test_cli_explains_each_line_of_a_file_and_escapes_control_characters(tmp_path: Path) -> None:
    path = tmp_path / "reviews.txt"
    path.write_text("a wonderful film\nterrible \x1b[31mplot\n\n", encoding="utf-8")
    result = _cli("--explain", "--file", str(path))
    assert result.exit_code == 0
    out = result.output  # type: ignore[attr-defined]
    assert out.count("(towards positive)") == 3 and out.count("(away from positive)") == 3
    assert "\x1b" not in out and "\\x1b[31mplot" in out
    assert "no words" in out  # the empty line


def test_cli_refusals(tmp_path: Path) -> None:
    result = _cli("--top", "3", "a film")
    assert result.exit_code == 2 and "--top does not apply here" in result.output  # type: ignore[attr-defined]
    path = tmp_path / "huge.txt"
    path.write_text("fine\n" + "a " * (MAX_EXPLAIN_CHARS // 2 + 1) + "\n", encoding="utf-8")
    result = _cli("--explain", "--file", str(path))
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "text 2 (--explain): explain lists every word" in result.output  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]


def test_benchmark_figures_on_the_tiny_bundle(tiny: Predictor) -> None:
    """tools/benchmarks/explain.py's two measurements, run on the tiny bundle (the real run uses the shipped one)."""
    from tests.conftest import NEGATIVE, POSITIVE
    from tools.benchmarks import explain as bench

    cost = bench.cost(tiny, POSITIVE[0], repeats=3)
    assert cost["words"] == len(POSITIVE[0].split()) and cost["variants"] >= 1 and cost["ratio"] > 1
    check = bench.deletion_check(tiny, POSITIVE + NEGATIVE, reviews=8, seed=0)
    assert check["reviews"] == 8 and set(check["by_k"]) == {"1", "3", "5"}
    one = check["by_k"]["1"]
    # the top word has the largest effect towards the other label: re-scored, it moves the score at least as much
    assert one["top_mean_move"] >= one["random_mean_move"] and one["top_moves_more"] + one["ties"] == pytest.approx(1.0)
    table = bench.section({"command": "c", "date": "2026-12-06", "machine": "m", "threads": 1, "cost": cost, "deletion": check})
    assert "| 5 |" in table and "172-word" in table

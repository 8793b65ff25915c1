"""export's options object: built once, never changed, and every value no export can use refused before any model
loads (no TensorFlow needed: the refusals come first)."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge_sentiment.cli import main
from edge_sentiment.errors import ExportError
from edge_sentiment.export.exporter import export_bundle, run_export
from edge_sentiment.export.options import KERAS_IMDB_DEFAULTS, ExportOptions, TokenizerOptions
from edge_sentiment.labelled import LabelledSource

# keras.datasets.imdb.load_data(index_from=3, start_char=1, oov_char=2): the Keras documentation's defaults.
LOAD_DATA_DEFAULTS = {"index_from": 3, "start_char": 1, "oov_char": 2}


def test_export_options_are_frozen() -> None:
    options = ExportOptions(tokenizer=TokenizerOptions(max_len=40), labels=("bad", "good"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.parity_samples = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.tokenizer.max_len = 10  # type: ignore[misc]
    assert options.max_loss_pp == 0.3 and options.fuzz == 100_000
    assert ExportOptions(int8_max_loss_pp=1.5, text_fuzz=7).max_loss_pp == 1.5
    assert ExportOptions(int8_max_loss_pp=1.5, text_fuzz=7).fuzz == 7


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"parity_samples": 0}, "parity needs at least 1 sample"),
        ({"quantize": "int4"}, "unknown quantisation 'int4'; the choice is int8"),
        ({"text_fuzz": 10}, "--text-fuzz does nothing without --text-model"),
        ({"int8_max_loss_pp": 1.0}, "--int8-max-loss does nothing without --quantize"),
        ({"accuracy_samples": 10}, "--accuracy-samples does nothing without --quantize"),
        ({"accuracy_texts": LabelledSource(path="mine.csv")}, "--labelled does nothing without --quantize"),
    ],
)
def test_python_callers_get_the_same_refusals_before_any_model_loads(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    missing = tmp_path / "no-such-model.keras"  # never read: the options are refused first
    with pytest.raises(ExportError, match=message.replace("(", r"\(")):
        export_bundle(missing, tmp_path / "bundle", **options)  # type: ignore[arg-type]
    with pytest.raises(ExportError, match=message.replace("(", r"\(")):
        run_export(missing, tmp_path / "bundle", ExportOptions(**options))  # type: ignore[arg-type]
    assert not (tmp_path / "bundle").exists()


def test_an_unknown_option_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="parity_sample"):
        export_bundle(tmp_path / "model.keras", tmp_path / "bundle", parity_sample=10)


def test_the_default_imdb_id_offsets_are_load_datas_and_written_once() -> None:
    from edge_sentiment.runtime.keras_tokenizers import KerasImdbTokenizer

    assert KERAS_IMDB_DEFAULTS == LOAD_DATA_DEFAULTS
    signature = inspect.signature(KerasImdbTokenizer).parameters
    assert {name: signature[name].default for name in LOAD_DATA_DEFAULTS} == LOAD_DATA_DEFAULTS
    shown = CliRunner().invoke(main, ["export", "--help"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    for name, value in LOAD_DATA_DEFAULTS.items():
        assert f"load_data's {name}. [{value}]" in shown.output
        assert f"--{name.replace('_', '-')} {value}" in shown.output  # the tokenizer table in the epilog

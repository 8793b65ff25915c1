"""The files public Keras projects ship, built here the way those projects build them and exported through the
CLI: pickled Tokenizers and TextVectorization layers (read without running the pickle), SavedModel folders,
model.to_json() with its weights, and a .keras whose vocabulary Keras cannot read back. Hostile pickles are
refused with nothing run (a marker file each would create must not appear)."""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import shutil
import subprocess
import sys
import types
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_export_tokenizers import (
    tf_keras_text_model,
    CORPUS,
    LABELS,
    LENGTH,
    TEXTS,
    assert_fails,
    assert_same,
    fitted,
    head,
    invoke,
    keras2_ids,
    strings,
)

from edge_sentiment.errors import TokenizerError
from edge_sentiment.export.pickles import TOKENIZER_MODULES
from edge_sentiment.export.userfiles import read_text_vectorization_file, read_tokenizer_file

needs_tf_keras = pytest.mark.skipif(
    importlib.util.find_spec("tf_keras") is None, reason="needs tf-keras: pip install 'edge-sentiment[train]'"
)
needs_tf = pytest.mark.needs_tf
PRE = ("--padding", "pre", "--truncating", "pre")


# -- hostile pickles: refused, nothing run (no TensorFlow needed) --------------------------------------


class _Reduce:
    """An object whose pickle calls func(*args) on load: how every pickle exploit is written."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> Any:
        return self.func, self.args


@pytest.fixture
def tokenizer_class(monkeypatch: pytest.MonkeyPatch) -> type:
    """A class pickle writes as keras.preprocessing.text.Tokenizer (Keras 2.0-2.1's and 2.9-2.12's path), so
    an edited Tokenizer pickle can be made without Keras 2."""
    module = types.ModuleType("keras.preprocessing.text")

    class Tokenizer:
        pass

    Tokenizer.__module__, Tokenizer.__qualname__ = module.__name__, "Tokenizer"
    module.Tokenizer = Tokenizer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return Tokenizer


def _hostile(marker: Path, tokenizer_class: type) -> dict[str, Any]:
    """What each attack pickles; each would create the marker file (or fetch os.system) under pickle.load."""
    touch = f"touch {marker}"
    tokenizer = tokenizer_class()
    tokenizer.__dict__.update(word_index={"good": 1}, analyzer=_Reduce(os.system, touch))
    return {
        "os.system": _Reduce(os.system, touch),
        "builtins.eval": _Reduce(eval, f"open({str(marker)!r}, 'w')"),
        "subprocess.call": _Reduce(subprocess.call, ["touch", str(marker)]),
        "nested reduce": {"config": {}, "weights": [OrderedDict([("a", _Reduce(os.system, touch))])]},
        "inside a Tokenizer": tokenizer,
        "builtins.getattr": _Reduce(getattr, _Reduce(__import__, "os"), "system"),
    }


def _written(path: Path, obj: Any, protocol: int = pickle.DEFAULT_PROTOCOL) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def _bomb(levels: int) -> list[Any]:
    """A list of two references to a list of two references to ..., as a pickle's memo allows."""
    found: list[Any] = ["a"]
    for _ in range(levels):
        found = [found, found]
    return found


ATTACKS = ["os.system", "builtins.eval", "subprocess.call", "nested reduce", "inside a Tokenizer", "builtins.getattr"]


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("reader", [read_tokenizer_file, read_text_vectorization_file])
def test_a_hostile_pickle_is_refused_with_nothing_run(
    tmp_path: Path, tokenizer_class: type, attack: str, protocol: int, reader: Any
) -> None:
    marker = tmp_path / "MARKER"
    path = _written(tmp_path / "tokenizer.pickle", _hostile(marker, tokenizer_class)[attack], protocol)
    with pytest.raises(TokenizerError, match="names .* which edge-sentiment does not read") as caught:
        reader(path)
    assert "nothing in this file was run" in str(caught.value)
    assert not marker.exists()


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a != "builtins.getattr"])
def test_the_marker_shows_what_pickle_load_would_run(tmp_path: Path, tokenizer_class: type, attack: str) -> None:
    """The control: the same bytes under pickle.load do create the marker, so its absence above means something."""
    marker = tmp_path / "MARKER"
    data = pickle.dumps(_hostile(marker, tokenizer_class)[attack])
    pickle.loads(data)  # noqa: S301  (the attack, run on purpose in a temporary folder: it touches a file)
    assert marker.exists()


@pytest.mark.parametrize(
    "data, named",
    [
        (b"cposix\nsystem\n(S'touch MARKER'\ntR.", "posix.system"),  # protocol 0, written by hand
        (b"(S'touch MARKER'\niposix\nsystem\n.", "posix.system"),  # the INST opcode
        (b'cbuiltins\nexec\n(S\'open("MARKER","w")\'\ntR.', "builtins.exec"),
        # an allowed global given a class it must not build: copyreg._reconstructor(os.system, ...)
        (b"ccopyreg\n_reconstructor\n(cos\nsystem\ncbuiltins\nobject\nNtR.", "os.system"),
        # numpy's own gadgets that run code
        (b'cnumpy.testing._private.utils\nrunstring\n(S\'open("MARKER","w")\'\n(dtR.', "numpy.testing._private.utils.runstring"),
        (b"cnumpy\nload\n(S'MARKER'\ntR.", "numpy.load"),
        (b"(S'x'\nP0\n.", "a persistent id"),
    ],
)
def test_hand_written_pickles_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, named: str) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "tokenizer.pkl"
    path.write_bytes(data)
    with pytest.raises(TokenizerError, match="nothing in this file was run") as caught:
        read_tokenizer_file(path)
    assert named in str(caught.value)
    assert not (tmp_path / "MARKER").exists()


@pytest.mark.parametrize(
    "data, message",
    [
        # _reconstruct with a shape of 10^12 items and 8 bytes of data: refused, nothing allocated
        (
            b"cnumpy._core.multiarray\n_reconstruct\n(cnumpy\nndarray\n(I0\ntS'b'\ntR(I1\n(I1000000\nI1000000\n"
            b"tcnumpy\ndtype\n(S'f8'\nI00\nI01\ntR(I3\nS'<'\nNNNI-1\nI-1\nI0\ntbI00\nS'12345678'\ntb.",
            "does not match its shape",
        ),
        (b"\x80\x04]\x94(K\x01h\x00e.", "nested deeper"),  # a list that holds itself
        (pickle.dumps(_bomb(40)), "more items than its bytes spell out"),  # 2^40 items in 259 bytes
        (b"\x80\x04\x95", "not a pickle edge-sentiment can read"),  # cut short
        # BUILD on a global, to change it for every later read (setattr(OrderedDict, "__defaults__", ...))
        (b"ccollections\nOrderedDict\n(N}(S'__defaults__'\n(I1\ntdtb.", "collections.OrderedDict given a state"),
    ],
)
def test_malformed_pickles_are_refused(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "tokenizer.pkl"
    path.write_bytes(data)
    with pytest.raises(TokenizerError, match=message):
        read_tokenizer_file(path)


@pytest.mark.parametrize("module", TOKENIZER_MODULES)
@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_every_class_path_of_the_keras_tokenizer_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, module: str, protocol: int
) -> None:
    """A fitted Tokenizer's attributes (OrderedDict, defaultdict(int), dicts) under each path Keras has used,
    read into what its to_json() writes."""
    fake = types.ModuleType(module)

    class Tokenizer:
        pass

    Tokenizer.__module__, Tokenizer.__qualname__ = module, "Tokenizer"
    fake.Tokenizer = Tokenizer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module, fake)
    top = module.split(".")[0]
    if top not in sys.modules and importlib.util.find_spec(top) is None:  # pickle imports the top package
        monkeypatch.setitem(sys.modules, top, types.ModuleType(top))
    tok = Tokenizer()
    counts = OrderedDict([("great", 3), ("café", 1)])
    docs = defaultdict(int, {"great": 2, "café": 1})
    tok.__dict__.update(
        word_counts=counts, word_docs=docs, index_docs=defaultdict(int, {1: 2, 2: 1}), word_index={"great": 1, "café": 2},
        index_word={1: "great", 2: "café"}, filters="!", split=" ", lower=True, num_words=None, document_count=2,
        char_level=False, oov_token=None, analyzer=None,
    )  # fmt: skip
    found = read_tokenizer_file(_written(tmp_path / "tokenizer.pickle", tok, protocol))
    assert found["class_name"] == "Tokenizer" and found["config"]["filters"] == "!"
    assert json.loads(found["config"]["word_index"]) == {"great": 1, "café": 2}
    assert json.loads(found["config"]["word_docs"]) == {"great": 2, "café": 1}
    assert json.loads(found["config"]["index_word"]) == {"1": "great", "2": "café"}


def test_a_pickle_of_the_other_kind_is_sent_to_its_option(tmp_path: Path) -> None:
    tv = _written(tmp_path / "tv.pkl", {"config": {"output_sequence_length": 4}, "weights": [np.array([b"a"], dtype=object)]}, 4)
    with pytest.raises(TokenizerError, match="pass it with --text-vectorization"):
        read_tokenizer_file(tv)
    assert read_text_vectorization_file(tv)["vocabulary"] == ["", "[UNK]", "a"]
    empty = _written(tmp_path / "k3.pkl", {"config": {"vocabulary": None}, "weights": []}, 4)
    with pytest.raises(TokenizerError, match="Keras 3's TextVectorization.get_weights\\(\\) is empty"):
        read_text_vectorization_file(empty)


# -- pickled tokenizers, exported ------------------------------------------------------------------


# Protocol 0 runs the export the default protocol does; test_every_class_path_of_the_keras_tokenizer_is_read reads
# protocol 0 (and 2, and the highest) pickles of the tokenizer in the default suite, without TensorFlow.
@needs_tf
@needs_tf_keras
@pytest.mark.parametrize("protocol", [pytest.param(0, marks=pytest.mark.slow), pickle.DEFAULT_PROTOCOL])
def test_a_pickled_keras_tokenizer_with_an_h5_model_exports(tmp_path: Path, protocol: int) -> None:
    """model.h5 next to pickle.dump(tokenizer, f), as TF 2.x tutorials save them."""
    import tf_keras
    from tf_keras.preprocessing.text import Tokenizer

    tokenizer = Tokenizer(num_words=30, oov_token="<OOV>")
    tokenizer.fit_on_texts(CORPUS)
    with open(tmp_path / "tokenizer.pickle", "wb") as handle:
        pickle.dump(tokenizer, handle, protocol=protocol)
    model = _keras2_model(tf_keras, keras2_ids(tokenizer, CORPUS, "pre", "pre"), seed=21)
    model.save(tmp_path / "model.h5")

    result = invoke(tmp_path / "model.h5", "--tokenizer", tmp_path / "tokenizer.pickle", *PRE, "--out", tmp_path / "bundle")
    assert result.exit_code == 0, result.output
    assert "✓ tokenizer: ids equal tf-keras's Tokenizer and pad_sequences's" in result.output
    assert_same(tmp_path / "bundle", TEXTS, model.predict(keras2_ids(tokenizer, TEXTS, "pre", "pre"), verbose=0)[:, 0])


def _keras2_model(tf_keras: Any, x: np.ndarray, seed: int, rows: int = 30) -> Any:
    tf_keras.utils.set_random_seed(seed)
    model = tf_keras.Sequential(
        [
            tf_keras.Input(shape=(LENGTH,), dtype="int32"),
            tf_keras.layers.Embedding(rows, 8),
            tf_keras.layers.LSTM(6),
            tf_keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(tf_keras.optimizers.Adam(0.05), "binary_crossentropy")
    model.fit(x, LABELS, epochs=12, batch_size=8, verbose=0)
    return model


@needs_tf
@needs_tf_keras
@pytest.mark.parametrize("saved_as", ["model.h5", "model.keras"])
def test_a_pickled_text_vectorization_exports(tmp_path: Path, saved_as: str) -> None:
    """The recipe copied from Stack Overflow: pickle.dump({'config': get_config(), 'weights': get_weights()}) of a
    tf-keras layer, beside the model after it: a TF 2.x .h5, or the model trained again under Keras 3."""
    import keras
    import tf_keras

    tf_keras.utils.set_random_seed(22)
    layer = tf_keras.layers.TextVectorization(max_tokens=40, output_sequence_length=LENGTH)
    layer.adapt(CORPUS)
    with open(tmp_path / "tv_layer.pkl", "wb") as handle:
        pickle.dump({"config": layer.get_config(), "weights": layer.get_weights()}, handle)
    x = np.asarray(layer(strings(CORPUS)))
    if saved_as == "model.h5":
        model = _keras2_model(tf_keras, x, seed=22, rows=40)
    else:
        keras.utils.set_random_seed(22)
        model = fitted(keras.Sequential([keras.Input(shape=(LENGTH,), dtype="int32"), *head(40)]), x)
    model.save(tmp_path / saved_as)

    result = invoke(tmp_path / saved_as, "--text-vectorization", tmp_path / "tv_layer.pkl", "--out", tmp_path / "bundle")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["tokenizer"]["kind"] == "keras-text-vectorization"
    assert_same(tmp_path / "bundle", TEXTS, model.predict(np.asarray(layer(strings(TEXTS))), verbose=0)[:, 0])


@needs_tf
def test_a_hostile_pickle_fails_the_export_with_nothing_run(tmp_path: Path) -> None:
    import keras

    marker = tmp_path / "MARKER"
    _written(tmp_path / "tokenizer.pickle", _Reduce(os.system, f"touch {marker}"))
    keras.Sequential([keras.Input(shape=(LENGTH,), dtype="int32"), *head(20)]).save(tmp_path / "model.keras")
    assert_fails(
        invoke(tmp_path / "model.keras", "--tokenizer", tmp_path / "tokenizer.pickle", "--out", tmp_path / "b"),
        "names posix.system",
        "nothing in this file was run",
    )
    assert not marker.exists() and not (tmp_path / "b").exists()


# -- SavedModel folders ----------------------------------------------------------------------------


def _move_metadata_into_saved_model(folder: Path) -> None:
    """Lay a folder out as TF 2.0-2.4's model.save(dir) did: the Keras metadata inside saved_model.pb's
    objects, no keras_metadata.pb."""
    from tensorflow.core.protobuf import saved_model_pb2
    from tf_keras.protobuf import saved_metadata_pb2

    metadata = saved_metadata_pb2.SavedMetadata()
    metadata.ParseFromString((folder / "keras_metadata.pb").read_bytes())
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((folder / "saved_model.pb").read_bytes())
    nodes = saved.meta_graphs[0].object_graph_def.nodes
    for node in metadata.nodes:
        nodes[node.node_id].user_object.metadata = node.metadata
    (folder / "saved_model.pb").write_bytes(saved.SerializeToString())
    (folder / "keras_metadata.pb").unlink()


@needs_tf
@needs_tf_keras
@pytest.mark.parametrize("layout", ["keras_metadata.pb", "metadata in saved_model.pb"])
def test_a_tf2_saved_model_folder_exports(tmp_path: Path, layout: str) -> None:
    import tf_keras
    from tf_keras.preprocessing.text import Tokenizer

    tokenizer = Tokenizer(num_words=30)
    tokenizer.fit_on_texts(CORPUS)
    (tmp_path / "tokenizer.json").write_text(tokenizer.to_json(), encoding="utf-8")
    model = _keras2_model(tf_keras, keras2_ids(tokenizer, CORPUS, "pre", "pre"), seed=23)
    model.save(tmp_path / "saved_model")
    if layout != "keras_metadata.pb":
        _move_metadata_into_saved_model(tmp_path / "saved_model")

    result = invoke(tmp_path / "saved_model", "--tokenizer", tmp_path / "tokenizer.json", *PRE, "--out", tmp_path / "bundle")
    assert result.exit_code == 0, result.output
    assert "✓ parity from raw strings" in result.output
    assert_same(tmp_path / "bundle", TEXTS, model.predict(keras2_ids(tokenizer, TEXTS, "pre", "pre"), verbose=0)[:, 0])


@needs_tf
@needs_tf_keras
def test_a_saved_model_folder_with_its_text_vectorization_exports(tmp_path: Path) -> None:
    """The TF 2.x tutorials' end-to-end model: raw strings in, the TextVectorization layer first, saved to a folder."""
    import tf_keras

    model = tf_keras_text_model(tf_keras.layers.LSTM(6), seed=27)
    model.save(tmp_path / "saved_model")

    result = invoke(tmp_path / "saved_model", "--out", tmp_path / "bundle")
    assert result.exit_code == 0, result.output
    assert "✓ tokenizer: ids equal the TextVectorization layer's" in result.output
    assert_same(tmp_path / "bundle", TEXTS, model.predict(strings(TEXTS)[:, None], verbose=0)[:, 0])


@needs_tf
@needs_tf_keras
def test_saved_models_no_keras_loads_are_refused_with_what_to_pass(tmp_path: Path) -> None:
    import keras
    import tensorflow as tf
    import tf_keras

    (tmp_path / "tokenizer.json").write_text(json.dumps({"class_name": "Tokenizer", "config": {}}), encoding="utf-8")
    k3 = keras.Sequential([keras.Input(shape=(LENGTH,), dtype="int32"), *head(20)])
    k3.export(tmp_path / "exported")
    bare = tf.Module()
    bare.scale = tf.Variable(2.0)
    tf.saved_model.save(bare, str(tmp_path / "bare"))
    args = ("--tokenizer", tmp_path / "tokenizer.json", "--out", tmp_path / "b")
    for folder in ("exported", "bare"):
        assert_fails(invoke(tmp_path / folder, *args), "is a SavedModel with no Keras model in it", "model.save('model.keras')")
    # a graph that writes a file when called: refused from its ops, never run
    marker = tmp_path / "MARKER"

    class Writes(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
        def __call__(self, text: Any) -> Any:
            tf.io.write_file(str(marker), text)
            return text

    tf.saved_model.save(Writes(), str(tmp_path / "writes"))
    assert not marker.exists()
    assert_fails(invoke(tmp_path / "writes", *args), "holds WriteFile ops", "does not load it")
    assert not marker.exists()
    # a TF 2.5+ folder whose keras_metadata.pb was lost
    lost = tmp_path / "lost"
    tf_keras.Sequential([tf_keras.Input(shape=(LENGTH,), dtype="int32"), tf_keras.layers.Embedding(20, 4)]).save(lost)
    (lost / "keras_metadata.pb").unlink()
    assert_fails(invoke(lost, *args), "without its keras_metadata.pb")
    assert not (tmp_path / "b").exists()


@needs_tf
@needs_tf_keras
def test_a_saved_model_with_a_lambda_is_refused_before_loading(tmp_path: Path) -> None:
    """tf-keras revives a SavedModel's Lambda from its marshalled bytecode: refused before anything loads."""
    import tf_keras

    marker = tmp_path / "MARKER"
    name = str(marker)

    def leave_a_mark(x: Any) -> Any:
        open(name, "w").close()  # noqa: SIM115
        return x

    tf_keras.Sequential(
        [tf_keras.Input(shape=(LENGTH,), dtype="int32"), tf_keras.layers.Lambda(leave_a_mark), tf_keras.layers.Embedding(20, 4)]
    ).save(tmp_path / "lambda")
    marker.unlink(missing_ok=True)  # tracing at save time ran it; loading must not
    (tmp_path / "tokenizer.json").write_text("{}", encoding="utf-8")
    assert_fails(
        invoke(tmp_path / "lambda", "--tokenizer", tmp_path / "tokenizer.json", "--out", tmp_path / "b"), "holds a Lambda layer"
    )
    assert not marker.exists()


# -- model.to_json() + weights ---------------------------------------------------------------------


@needs_tf
@pytest.mark.parametrize(
    "keras_name, weights_name",
    [("tf_keras", "weights.h5"), ("tf_keras", "model.weights.h5"), ("tf_keras", "ckpt"), ("keras", "model.weights.h5")],
)
def test_an_architecture_with_its_weights_exports(tmp_path: Path, keras_name: str, weights_name: str) -> None:
    if keras_name == "tf_keras" and importlib.util.find_spec("tf_keras") is None:
        pytest.skip("needs tf-keras")
    from tf_keras.preprocessing.text import Tokenizer

    module = __import__(keras_name)
    tokenizer = Tokenizer(num_words=30)
    tokenizer.fit_on_texts(CORPUS)
    (tmp_path / "tokenizer.json").write_text(tokenizer.to_json(), encoding="utf-8")
    x = keras2_ids(tokenizer, CORPUS, "pre", "pre")
    if keras_name == "tf_keras":
        model = _keras2_model(module, x, seed=24)
    else:
        module.utils.set_random_seed(24)
        model = fitted(module.Sequential([module.Input(shape=(LENGTH,), dtype="int32"), *head(30)]), x)
    (tmp_path / "model.json").write_text(model.to_json(), encoding="utf-8")
    model.save_weights(tmp_path / weights_name)

    args = ("--tokenizer", tmp_path / "tokenizer.json", *PRE, "--out", tmp_path / "bundle")
    assert_fails(invoke(tmp_path / "model.json", *args), "model.to_json()'s architecture", "--weights")
    given = tmp_path / (f"{weights_name}.index" if weights_name == "ckpt" else weights_name)  # a TF checkpoint
    result = invoke(tmp_path / "model.json", "--weights", given, *args)
    assert result.exit_code == 0, result.output
    assert_same(tmp_path / "bundle", TEXTS, model.predict(keras2_ids(tokenizer, TEXTS, "pre", "pre"), verbose=0)[:, 0])


@needs_tf
@needs_tf_keras
def test_weights_that_do_not_fit_and_misplaced_weights_are_refused(tmp_path: Path) -> None:
    import tf_keras

    small = tf_keras.Sequential([tf_keras.Input(shape=(LENGTH,), dtype="int32"), tf_keras.layers.Embedding(20, 4)])
    small.save_weights(tmp_path / "small.h5")
    big = _keras2_model(tf_keras, np.zeros((8, LENGTH), dtype=np.int32), seed=25)
    (tmp_path / "model.json").write_text(big.to_json(), encoding="utf-8")
    big.save(tmp_path / "model.h5")
    (tmp_path / "tokenizer.json").write_text("{}", encoding="utf-8")
    args = ("--tokenizer", tmp_path / "tokenizer.json", "--out", tmp_path / "b")
    assert_fails(invoke(tmp_path / "model.json", "--weights", tmp_path / "small.h5", *args), "do not fit the architecture")
    shutil.copy(tmp_path / "model.h5", tmp_path / "copy.h5")
    assert_fails(invoke(tmp_path / "model.h5", "--weights", tmp_path / "copy.h5", *args), "model.to_json()'s JSON")
    assert not (tmp_path / "b").exists()


# -- a .keras whose vocabulary Keras cannot read back -----------------------------------------------


@needs_tf
def test_a_keras_file_with_line_separators_in_its_vocabulary_exports(tmp_path: Path) -> None:
    """IMDB reviews hold U+0085 and U+2028; Keras 3 saves such tokens but splits them apart when it loads
    the file. The archive's own vocabulary is read, so the model exports as it was saved."""
    import keras

    keras.utils.set_random_seed(26)
    corpus = [*CORPUS, "most\x85and wonderful", "one\u2028two awful"]
    layer = keras.layers.TextVectorization(max_tokens=60, output_sequence_length=LENGTH)
    layer.adapt(corpus)
    assert {"most\x85and", "one\u2028two"} <= set(layer.get_vocabulary())
    model = fitted(keras.Sequential([keras.Input(shape=(1,), dtype="string"), layer, *head(60)]), strings(corpus[:8])[:, None])
    model.save(tmp_path / "whole.keras")
    with pytest.raises(ValueError):  # Keras itself cannot read the file back
        keras.models.load_model(tmp_path / "whole.keras")

    result = invoke(tmp_path / "whole.keras", "--out", tmp_path / "bundle")
    assert result.exit_code == 0, result.output
    assert "✓ tokenizer: ids equal the TextVectorization layer's" in result.output
    texts = [*TEXTS, "most\x85and wonderful", "one\u2028two awful", "most and one two"]
    assert_same(tmp_path / "bundle", texts, model.predict(strings(texts)[:, None], verbose=0)[:, 0])

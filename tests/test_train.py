"""Training data preparation and recipes; the test marked needs_tf trains two tiny models."""

from __future__ import annotations

import numpy as np
import pytest

from edge_sentiment.data import Reviews
from edge_sentiment.runtime.tokenizer import Tokenizer
from edge_sentiment.train.recipes import RECIPES, Recipe, get_recipe
from edge_sentiment.train.trainer import prepare_training_data, validation_rows

from conftest import make_archive, needs_tf


def _reviews(n: int) -> Reviews:
    texts = [" ".join(f"w{i}" for i in range(k % 37 + 3)) + (" good" if k % 2 else " bad") for k in range(n)]
    return Reviews("train", texts, [k % 2 for k in range(n)], list(range(n)), [8 if k % 2 else 2 for k in range(n)])


def test_lab_recipe_is_the_lab() -> None:
    lab = get_recipe("lab")
    assert (lab.vocab_size, lab.max_len, lab.embedding_dim, lab.lstm_units) == (5000, 500, 32, 100)
    assert (lab.dropout, lab.recurrent_dropout, lab.dropout_per_step) == (0.2, 0.2, False)
    assert (lab.epochs, lab.batch_size, lab.learning_rate, lab.seed) == (3, 64, 0.001, 7)
    assert (lab.validation_split, lab.crop_fraction, lab.pooling) == (0.0, 0.0, "last")


def test_every_recipe_named_as_its_key_and_overrides() -> None:
    for name, recipe in RECIPES.items():
        assert recipe.name == name
    from edge_sentiment.train.recipes import ALIASES

    assert ALIASES == {"default": "bilstm32-w2v256-fold16", "better": "bilstm64-w2v256-fold16", "large": "bilstm64-w2v256"}
    for alias, name in ALIASES.items():
        assert get_recipe(alias) is get_recipe(name)
    assert get_recipe("lab").with_overrides(epochs=1, seed=None).epochs == 1
    with pytest.raises(ValueError, match="unknown recipe"):
        get_recipe("nope")


def test_the_default_is_better_with_32_units() -> None:
    better, default = get_recipe("better").to_dict(), get_recipe("default").to_dict()
    changed = {k: (better[k], default[k]) for k in better if better[k] != default[k]}
    assert changed == {"name": ("bilstm64-w2v256-fold16", "bilstm32-w2v256-fold16"), "lstm_units": (64, 32)}


def test_large_recipe_is_better_without_the_fold() -> None:
    better, large = get_recipe("better").to_dict(), get_recipe("large").to_dict()
    changed = {k: (better[k], large[k]) for k in better if better[k] != large[k]}
    assert changed == {"name": ("bilstm64-w2v256-fold16", "bilstm64-w2v256"), "embedding_rank": (16, 0)}
    assert (better["embedding_dim"], better["word2vec_epochs"], better["learning_rate_schedule"], better["epochs"]) == (
        256,
        5,
        "cosine",
        2,
    )


def test_the_readme_overrides_give_the_fourth_better() -> None:
    """docs/experiments.md: the fourth `better` of the runs before the fold, from bilstm64-w2v256-fold16 and five options."""
    fourth = get_recipe("better").with_overrides(
        embedding_dim=32, embedding_rank=0, word2vec_epochs=0, learning_rate_schedule="constant", epochs=10
    )
    assert fourth == Recipe(
        name="bilstm64-w2v256-fold16",
        vocab_size=10000,
        lstm_units=64,
        dropout=0.4,
        dropout_per_step=True,
        recurrent_dropout=0.0,
        epochs=10,
        validation_split=0.1,
        early_stopping_patience=2,
        crop_fraction=1.0,
        crop_min_words=3,
        crop_max_words=100,
        pooling="mean-max",
        bidirectional=True,
    )


def test_recipe_refuses_inconsistent_fields() -> None:
    with pytest.raises(ValueError, match="crop_min_words"):
        Recipe(crop_min_words=10, crop_max_words=5)
    with pytest.raises(ValueError, match="validation_split"):
        get_recipe("lab").with_overrides(early_stopping_patience=2)
    with pytest.raises(ValueError, match="unknown pooling 'avg'; choose one of: last, max, mean-max"):
        Recipe(pooling="avg")
    with pytest.raises(ValueError, match="choose a pooling over the words"):
        Recipe(bidirectional=True)
    for decay in (0.0, 1.5):
        with pytest.raises(ValueError, match="learning_rate_decay must be in"):
            Recipe(learning_rate_decay=decay)
    with pytest.raises(ValueError, match="unknown learning rate schedule 'linear'; choose one of: constant, cosine"):
        Recipe(learning_rate_schedule="linear")
    with pytest.raises(ValueError, match="leave learning_rate_decay at 1"):
        Recipe(learning_rate_schedule="cosine", learning_rate_decay=0.5)
    assert Recipe(bidirectional=True, pooling="max").bidirectional
    assert get_recipe("better").with_overrides(early_stopping_patience=2).early_stopping_patience == 2


def test_prepare_without_validation_or_crops_keeps_every_review() -> None:
    reviews = _reviews(50)
    tok = Tokenizer.fit(reviews.texts, vocab_size=30, max_len=12)
    arrays = prepare_training_data(reviews, tok, Recipe(max_len=12, vocab_size=30))
    assert arrays["x_train"].shape == (50, 12) and arrays["x_train"].dtype == np.int32
    assert "x_val" not in arrays
    assert sorted(arrays["y_train"].tolist()) == sorted(float(v) for v in reviews.labels)
    # rows are the tokenizer's own encodings, shuffled
    expected = {tuple(r) for r in tok.encode_batch(reviews.texts).tolist()}
    assert {tuple(r) for r in arrays["x_train"].tolist()} == expected


def test_validation_is_held_out_before_crops_are_added() -> None:
    reviews = _reviews(200)
    tok = Tokenizer.fit(reviews.texts, vocab_size=60, max_len=50)
    recipe = Recipe(
        max_len=50, vocab_size=60, validation_split=0.1, crop_fraction=0.5, crop_min_words=2, crop_max_words=5, seed=3
    )
    arrays = prepare_training_data(reviews, tok, recipe)
    assert arrays["x_val"].shape == (20, 50)
    assert arrays["x_train"].shape == (180 + 90, 50)
    crops = arrays["x_train"][180:]
    lengths = (crops != 0).sum(axis=1)
    assert lengths.min() >= 2 and lengths.max() <= 5
    # every crop is a contiguous window of a training review, never of a validation one
    val_rows = [r[r != 0].tolist() for r in arrays["x_val"]]
    train_rows = [r[r != 0].tolist() for r in arrays["x_train"][:180]]

    def inside(window: list[int], rows: list[list[int]]) -> bool:
        k = len(window)
        return any(row[i : i + k] == window for row in rows for i in range(len(row) - k + 1))

    assert all(inside(c[c != 0].tolist(), train_rows) for c in crops)
    # same seed, same arrays; another seed, another order
    again = prepare_training_data(reviews, tok, recipe)
    assert np.array_equal(again["x_train"], arrays["x_train"])
    other = prepare_training_data(reviews, tok, recipe.with_overrides(seed=4))
    assert not np.array_equal(other["x_train"], arrays["x_train"])
    assert len(val_rows) == 20


def test_validation_rows_are_the_reviews_held_out() -> None:
    reviews = _reviews(120)
    tok = Tokenizer.fit(reviews.texts, vocab_size=60, max_len=50)
    recipe = Recipe(max_len=50, vocab_size=60, validation_split=0.25, seed=5)
    arrays = prepare_training_data(reviews, tok, recipe)
    rows = validation_rows(len(reviews), recipe)
    assert len(rows) == 30
    assert np.array_equal(tok.encode_batch([reviews.texts[i] for i in rows]), arrays["x_val"])
    assert np.array_equal(np.asarray([reviews.labels[i] for i in rows], np.float32), arrays["y_val"])
    assert len(validation_rows(len(reviews), recipe.with_overrides(validation_split=0.0))) == 0


@needs_tf
def test_training_reports_validation_accuracy_by_length(tmp_path) -> None:
    from edge_sentiment.train.trainer import train

    archive = make_archive(tmp_path / "aclImdb.tar.gz", per_class=24)
    recipe = Recipe(
        vocab_size=40,
        max_len=20,
        embedding_dim=4,
        lstm_units=4,
        epochs=2,
        batch_size=8,
        validation_split=0.25,
        early_stopping_patience=1,
    )
    metrics = train(archive, tmp_path / "run", recipe, verbose=0)
    by_length = metrics["validation_accuracy_by_length"]
    assert list(by_length) == ["full review"] + [f"{end} {k} words" for k in (10, 20, 50) for end in ("first", "last")]
    assert all(0.0 <= v <= 1.0 for v in by_length.values())
    # the whole-review figure is Keras's own validation accuracy of the epoch kept
    kept = metrics["epochs"][metrics["best_epoch"] - 1]
    assert by_length["full review"] == pytest.approx(kept["val_accuracy"], abs=1e-4)
    no_split = train(
        archive, tmp_path / "run2", recipe.with_overrides(validation_split=0.0, early_stopping_patience=0), verbose=0
    )
    assert no_split["validation_accuracy_by_length"] is None


def _contexts_corpus() -> list[str]:
    # "good"/"great" share every context, as do "bad"/"awful"; the two pairs share none
    texts = []
    for i in range(300):
        texts.append(f"the film was {'good' if i % 2 else 'great'} and the cast was lovely fun joy")
        texts.append(f"a plot so {'bad' if i % 2 else 'awful'} with acting dull boring mess")
    return texts


def test_word2vec_embedding_learns_contexts_and_is_reproducible() -> None:
    pytest.importorskip("gensim")
    from edge_sentiment.train.word2vec import EMBEDDING_STD, pretrain_embedding

    texts = _contexts_corpus()
    tokenizer = Tokenizer.fit(texts, vocab_size=30, max_len=20)  # every word
    matrix = pretrain_embedding(texts, tokenizer, dim=8, epochs=20, seed=3, sample=0)
    assert matrix.shape == (tokenizer.vocab_size, 8) and matrix.dtype == np.float32
    assert not matrix[0].any()  # padding
    assert matrix[1:].std() == pytest.approx(EMBEDDING_STD, rel=1e-4)
    assert np.array_equal(matrix, pretrain_embedding(texts, tokenizer, dim=8, epochs=20, seed=3, sample=0))
    assert not np.array_equal(matrix, pretrain_embedding(texts, tokenizer, dim=8, epochs=20, seed=4, sample=0))

    def cosine(a: str, b: str) -> float:
        u, v = (matrix[tokenizer.encode(w)[0]] for w in (a, b))
        return float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))

    assert cosine("good", "great") > cosine("good", "bad") + 0.3
    assert cosine("bad", "awful") > cosine("great", "awful") + 0.3


@needs_tf
def test_word2vec_reads_only_the_training_reviews_and_learning_rate_decays(tmp_path, monkeypatch) -> None:
    pytest.importorskip("gensim")
    from edge_sentiment.data import load_imdb
    from edge_sentiment.train import trainer, word2vec

    seen: list[list[str]] = []
    made: list[np.ndarray] = []
    real = word2vec.pretrain_embedding

    def spy(texts, tokenizer, dim, epochs, seed):  # type: ignore[no-untyped-def]
        seen.append(list(texts))
        made.append(real(texts, tokenizer, dim, epochs, seed))
        return made[-1]

    monkeypatch.setattr(word2vec, "pretrain_embedding", spy)
    archive = make_archive(tmp_path / "aclImdb.tar.gz", per_class=12)
    recipe = Recipe(
        vocab_size=40,
        max_len=20,
        embedding_dim=4,
        lstm_units=4,
        epochs=3,
        batch_size=8,
        validation_split=0.25,
        word2vec_epochs=2,
        seed=5,
        learning_rate=0.002,
        learning_rate_decay=0.5,
    )
    metrics = trainer.train(archive, tmp_path / "run", recipe, verbose=0)
    assert metrics["recipe"]["word2vec_epochs"] == 2 and metrics["word2vec_seconds"] is not None
    reviews = load_imdb(archive)["train"]
    held_out = set(validation_rows(len(reviews), recipe).tolist())
    expected = [t for i, t in enumerate(reviews.texts) if i not in held_out]
    assert len(seen) == 1 and seen[0] == expected and len(expected) == len(reviews) - 6
    # the model started from those vectors: after 3 small epochs its embedding still follows them
    import keras

    trained = keras.saving.load_model(tmp_path / "run" / "model.keras").get_layer("embedding").get_weights()[0]
    assert np.corrcoef(trained[1:].ravel(), made[0][1:].ravel())[0, 1] > 0.9
    rates = [e["learning_rate"] for e in metrics["epochs"]]
    assert rates == pytest.approx([0.002, 0.001, 0.0005]) and metrics["best_epoch"] == 3  # no early stopping


@needs_tf
def test_cosine_schedule_takes_the_learning_rate_to_zero_over_the_epochs(tmp_path) -> None:
    from edge_sentiment.train.trainer import train

    archive = make_archive(tmp_path / "aclImdb.tar.gz", per_class=10)
    recipe = Recipe(
        vocab_size=40,
        max_len=20,
        embedding_dim=4,
        lstm_units=4,
        epochs=3,
        batch_size=8,
        learning_rate=0.002,
        learning_rate_schedule="cosine",
    )
    metrics = train(archive, tmp_path / "run", recipe, verbose=0)
    rates = [e["learning_rate"] for e in metrics["epochs"]]  # at the end of epochs 1, 2, 3 of 3
    assert rates == pytest.approx([0.0015, 0.0005, 0.0], abs=1e-6)


@needs_tf
def test_word_dropout_zeroes_whole_words_in_training_only() -> None:
    from edge_sentiment.train.model import build_model

    model = build_model(
        Recipe(vocab_size=100, max_len=30, embedding_dim=8, lstm_units=4, dropout=0.0, word_dropout=0.5, seed=3), vocab_size=100
    )
    tokens = np.random.default_rng(0).integers(1, 100, size=(4, 30))
    vectors = model.get_layer("embedding")(tokens).numpy()
    dropped = model.get_layer("word_dropout")(vectors, training=True).numpy()
    gone = (dropped == 0).all(-1)
    assert ((dropped == 0).any(-1) == gone).all()  # a word is kept whole or dropped whole
    assert 0.3 < gone.mean() < 0.7
    np.testing.assert_allclose(dropped[~gone], 2 * vectors[~gone], rtol=1e-6)  # kept words scaled by 1/(1-p)
    np.testing.assert_array_equal(model.get_layer("word_dropout")(vectors, training=False).numpy(), vectors)


@needs_tf
@pytest.mark.parametrize(
    "pooling, bidirectional, cell", [("last", False, "lstm"), ("mean-max", True, "lstm"), ("mean-max", True, "gru")]
)
def test_folding_the_embedding_keeps_what_its_rank_holds(pooling: str, bidirectional: bool, cell: str) -> None:
    """An embedding of rank 3 folds to width 3 exactly (the same outputs); to width 1 it cannot."""
    import keras

    from edge_sentiment.train.fold import fold_embedding
    from edge_sentiment.train.model import build_model

    keras.utils.set_random_seed(2)
    recipe = Recipe(
        vocab_size=60,
        max_len=12,
        embedding_dim=8,
        lstm_units=4,
        pooling=pooling,
        bidirectional=bidirectional,
        embedding_rank=3,
        cell=cell,
    )
    wide = build_model(recipe, steps_per_epoch=1)
    rng = np.random.default_rng(0)
    wide.get_layer("embedding").set_weights([rng.normal(0, 0.5, (60, 3)) @ rng.normal(0, 0.5, (3, 8))])
    kernel, bias = wide.get_layer("probability").get_weights()
    wide.get_layer("probability").set_weights([kernel * 20, bias])  # spread the outputs around 0.5
    tokens = np.concatenate([np.zeros((16, 4), int), rng.integers(1, 60, size=(16, 8))], axis=1)
    expected = wide.predict(tokens, verbose=0)[:, 0]
    logits = np.log(expected / (1 - expected))
    wide.get_layer("probability").set_weights([kernel * 20, bias - np.median(logits)])  # ...and centre them there
    expected = wide.predict(tokens, verbose=0)[:, 0]
    assert expected.max() - expected.min() > 0.2, "the outputs must vary for the comparison to mean something"
    counts = rng.integers(0, 1000, size=60)

    folded, error = fold_embedding(wide, recipe, counts, steps_per_epoch=1)
    assert folded.get_layer("embedding").get_weights()[0].shape == (60, 3)
    assert error < 1e-6
    np.testing.assert_allclose(folded.predict(tokens, verbose=0)[:, 0], expected, rtol=0, atol=1e-5)

    folded1, error1 = fold_embedding(wide, recipe.with_overrides(embedding_rank=1), counts, steps_per_epoch=1)
    assert folded1.get_layer("embedding").get_weights()[0].shape == (60, 1)
    assert 0.05 < error1 < 1.0
    assert np.abs(folded1.predict(tokens, verbose=0)[:, 0] - expected).max() > 1e-3


@needs_tf
def test_the_fold_matches_frequent_words_best_and_pads_a_fold_wider_than_the_gates() -> None:
    import keras

    from edge_sentiment.train.fold import fold_embedding
    from edge_sentiment.train.model import build_model

    keras.utils.set_random_seed(5)
    recipe = Recipe(vocab_size=60, max_len=12, embedding_dim=8, lstm_units=2, embedding_rank=1)
    wide = build_model(recipe, steps_per_epoch=1)
    embedding = wide.get_layer("embedding").get_weights()[0]
    kernel = wide.get_layer("lstm").get_weights()[0]

    def row_errors(counts: np.ndarray) -> np.ndarray:
        folded, _ = fold_embedding(wide, recipe, counts, steps_per_epoch=1)
        narrow = folded.get_layer("embedding").get_weights()[0] @ folded.get_layer("lstm").get_weights()[0]
        return np.linalg.norm(narrow - embedding @ kernel, axis=1)

    uniform = row_errors(np.ones(60))
    frequent = int(np.argmax(uniform))  # the word a count-blind fold matches worst
    counts = np.ones(60)
    counts[frequent] = 1e6
    assert row_errors(counts)[frequent] < 0.01 * uniform[frequent]

    # LSTM(2) has 8 gate columns, so E @ W has at most 8 components: a 10-wide fold holds them all
    wide10 = build_model(recipe.with_overrides(embedding_dim=12, embedding_rank=10), steps_per_epoch=1)
    tokens = np.random.default_rng(1).integers(0, 60, size=(8, 12))
    folded, error = fold_embedding(
        wide10, recipe.with_overrides(embedding_dim=12, embedding_rank=10), np.ones(60), steps_per_epoch=1
    )
    assert folded.get_layer("embedding").get_weights()[0].shape == (60, 10) and error < 1e-6
    np.testing.assert_allclose(folded.predict(tokens, verbose=0), wide10.predict(tokens, verbose=0), atol=1e-6)


def test_embedding_rank_must_be_below_the_width() -> None:
    for rank in (32, 40, -1):
        with pytest.raises(ValueError, match=f"embedding_rank \\({rank}\\) must be below the embedding width \\(32\\)"):
            Recipe(embedding_dim=32, embedding_rank=rank)
    assert Recipe(embedding_dim=32, embedding_rank=31).embedding_rank == 31


@needs_tf
def test_training_with_a_fold_saves_and_scores_the_folded_model(tmp_path) -> None:
    import keras

    from edge_sentiment.data import load_imdb
    from edge_sentiment.train.trainer import train

    archive = make_archive(tmp_path / "aclImdb.tar.gz", per_class=24)
    recipe = Recipe(
        vocab_size=40, max_len=20, embedding_dim=8, lstm_units=4, epochs=2, batch_size=8, validation_split=0.25, embedding_rank=2
    )
    metrics = train(archive, tmp_path / "run", recipe, verbose=0)
    fold = metrics["embedding_fold"]
    assert (fold["width"], fold["rank"]) == (8, 2) and 0.0 <= fold["relative_error"] < 1.0
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert model.get_layer("embedding").get_weights()[0].shape == (40, 2)
    # the wide model's validation loss is the last epoch's; the folded one's is the saved model's
    assert fold["validation_loss"]["wide"] == pytest.approx(metrics["epochs"][-1]["val_loss"], abs=1e-5)
    tokenizer = Tokenizer.load(tmp_path / "run" / "tokenizer.json")
    reviews = load_imdb(archive)
    rows = validation_rows(len(reviews["train"]), recipe)
    x_val = tokenizer.encode_batch([reviews["train"].texts[i] for i in rows])
    y_val = np.asarray([reviews["train"].labels[i] for i in rows], np.float32)
    assert model.evaluate(x_val, y_val, verbose=0)[0] == pytest.approx(fold["validation_loss"]["folded"], abs=1e-5)
    x_test = tokenizer.encode_batch(reviews["test"].texts)
    y_test = np.asarray(reviews["test"].labels, np.float32)
    assert model.evaluate(x_test, y_test, verbose=0)[0] == pytest.approx(metrics["test_loss"], abs=1e-5)
    assert train(archive, tmp_path / "run2", recipe.with_overrides(embedding_rank=0), verbose=0)["embedding_fold"] is None


@needs_tf
def test_train_on_keras_imdb_ids_then_predict_equals_keras(tmp_path) -> None:
    """train --vocabulary keras-imdb trains on keras.datasets.imdb's ids (a start mark, rank + 3, 2 past
    num_words, unknown words skipped); the exported bundle, given raw text, equals the Keras model on
    those ids, written out here by hand."""
    import json

    import numpy as np
    from click.testing import CliRunner

    from edge_sentiment.cli import main
    from edge_sentiment.export.kerasfile import load_keras_model

    archive = make_archive(tmp_path / "aclImdb.tar.gz", per_class=24)
    ranked = [
        "the",
        "film",
        "a",
        "and",
        "is",
        "br",
        "story",
        "acting",
        "great",
        "boring",
        "wonderful",
        "awful",
        "movie",
        "music",
        "cast",
        "stupid",
        "of",
        "end",
    ]
    index = {w: r for r, w in enumerate(ranked, start=1)}
    (tmp_path / "word_index.json").write_text(json.dumps(index), encoding="utf-8")
    runner = CliRunner()
    trained = runner.invoke(
        main,
        [
            "train",
            "--data",
            str(archive),
            "--out",
            str(tmp_path / "run"),
            "--vocabulary",
            "keras-imdb",
            "--word-index",
            str(tmp_path / "word_index.json"),
            "--vocab-size",
            "16",
            "--max-len",
            "24",
            "--embedding-dim",
            "4",
            "--lstm-units",
            "4",
            "--epochs",
            "2",
            "--batch-size",
            "8",
            "--recurrent-dropout",
            "0",
            "--json",
        ],
    )
    assert trained.exit_code == 0, trained.output
    assert json.loads(trained.output.splitlines()[-1])["vocabulary"] == "keras-imdb"
    exported = runner.invoke(main, ["export", str(tmp_path / "run"), "--out", str(tmp_path / "bundle"), "--parity-samples", "16"])
    assert exported.exit_code == 0, exported.output
    texts = [
        "A wonderful film, great acting!",
        "Boring, stupid and awful.<br /><br />The end.",
        "",
        "Café MUSIC zzz",
        "the cast " * 20,
    ]
    predicted = runner.invoke(main, ["predict", "--bundle", str(tmp_path / "bundle"), "--json", *texts])
    assert predicted.exit_code == 0, predicted.output
    scores = [json.loads(line)["score"] for line in predicted.output.splitlines()]

    def lab_ids(text: str) -> list[int]:
        lowered = "".join(
            c.lower() if "A" <= c <= "Z" else " " if c in '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n' else c for c in text
        )
        return ([1] + [index[w] + 3 if index[w] + 3 < 16 else 2 for w in lowered.split(" ") if w in index])[-24:]

    x = np.array([[0] * (24 - len(ids)) + ids for ids in map(lab_ids, texts)], dtype=np.int32)
    assert (x == 2).any() and (x == 1).any()
    keras_p = load_keras_model(tmp_path / "run" / "model.keras").predict(x, verbose=0)[:, 0]
    np.testing.assert_allclose(scores, keras_p, rtol=0, atol=2e-6)  # predict --json rounds to 6 decimals


@needs_tf
def test_train_keras_imdb_needs_a_word_index(tmp_path) -> None:
    from click.testing import CliRunner

    from edge_sentiment.cli import main

    archive = make_archive(tmp_path / "aclImdb.tar.gz")
    result = CliRunner().invoke(
        main, ["train", "--data", str(archive), "--out", str(tmp_path / "run"), "--vocabulary", "keras-imdb"]
    )
    assert result.exit_code == 1 and "needs --word-index" in result.output, result.output
    assert not (tmp_path / "run").exists()


@needs_tf
def test_train_a_gru_then_export_it(tmp_path) -> None:
    """--cell gru: a real training run whose bundle has one fused GRU op and equals Keras on every length."""
    from edge_sentiment import Predictor
    from edge_sentiment.export.exporter import export_bundle
    from edge_sentiment.export.kerasfile import load_keras_model
    from edge_sentiment.train.trainer import train

    archive = make_archive(tmp_path / "aclImdb.tar.gz", per_class=24)
    recipe = Recipe(
        vocab_size=40,
        max_len=20,
        embedding_dim=4,
        lstm_units=4,
        epochs=2,
        batch_size=8,
        cell="gru",
        pooling="max",
        bidirectional=True,
        dropout=0.2,
        recurrent_dropout=0.1,
    )
    train(archive, tmp_path / "run", recipe, verbose=0)
    manifest = export_bundle(tmp_path / "run", tmp_path / "bundle", parity_samples=16).manifest
    assert manifest["model"]["op_census"].get("GRU") == 1 and "LSTM" not in manifest["model"]["op_census"]
    assert manifest["model"]["pads"] == "fed"
    rng = np.random.default_rng(0)
    ids = [rng.integers(1, 40, size=n).tolist() for n in range(0, 24)]
    x = np.zeros((len(ids), 20), dtype=np.int32)
    for row, seq in enumerate(ids):
        seq = seq[-20:]
        if seq:
            x[row, 20 - len(seq) :] = seq
    keras_p = load_keras_model(tmp_path / "run" / "model.keras").predict(x, verbose=0)[:, 0]
    np.testing.assert_allclose(Predictor.load(tmp_path / "bundle").score_ids([s[-20:] for s in ids]), keras_p, rtol=0, atol=1e-5)


def test_recipe_refuses_an_unknown_cell() -> None:
    with pytest.raises(ValueError, match="unknown cell 'rnn'"):
        Recipe(cell="rnn")


def test_lab_keras2_is_the_lab_with_per_step_dropout_masks() -> None:
    assert get_recipe("lab-keras2") == get_recipe("lab").with_overrides(name="lab-keras2", dropout_masks="step")
    with pytest.raises(ValueError, match="unknown dropout masks 'batch'"):
        Recipe(dropout_masks="batch")


def _gate_free_cell_outputs(masks: str, cell: str, *, graph: bool) -> np.ndarray:
    """Training-mode outputs of a recurrent layer fed the same vector at every step, whose state is
    forgotten at every step: equal steps mean one dropout mask reused, differing steps new masks."""
    import keras
    import tensorflow as tf

    from edge_sentiment.train.model import build_model

    keras.utils.set_random_seed(0)
    recipe = Recipe(
        vocab_size=4, max_len=12, embedding_dim=16, lstm_units=8, cell=cell, pooling="max", dropout=0.5, recurrent_dropout=0.5
    ).with_overrides(dropout_masks=masks)
    layer = build_model(recipe, vocab_size=4).get_layer(cell)
    weights = [np.zeros_like(w) for w in layer.get_weights()]
    rng = np.random.default_rng(1)
    weights[0] = rng.normal(size=weights[0].shape).astype(np.float32)  # input kernel; recurrent kernel 0
    units = recipe.lstm_units
    if cell == "lstm":  # bias: forget gate far shut, so no state carries over from step to step
        weights[2][units : 2 * units] = -30.0
    else:  # GRU: update gate shut (z -> 0: h = candidate, which reads no state since the recurrent kernel is 0)
        weights[2][..., :units] = -30.0
    layer.set_weights(weights)
    x = np.ones((2, recipe.max_len, recipe.embedding_dim), dtype=np.float32)
    run = tf.function(lambda v: layer(v, training=True)) if graph else (lambda v: layer(v, training=True))
    return np.asarray(run(tf.constant(x)))


@needs_tf
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("graph", [False, True], ids=["eager", "graph"])
def test_step_dropout_masks_are_new_at_every_step_and_sequence_ones_are_not(cell: str, graph: bool) -> None:
    per_sequence = _gate_free_cell_outputs("sequence", cell, graph=graph)
    np.testing.assert_allclose(per_sequence[:, 1:], per_sequence[:, 1:2].repeat(per_sequence.shape[1] - 1, 1), atol=1e-6)
    per_step = _gate_free_cell_outputs("step", cell, graph=graph)
    differing = [not np.allclose(per_step[:, t], per_step[:, t - 1], atol=1e-6) for t in range(2, per_step.shape[1])]
    assert all(differing), differing
    assert not np.allclose(per_step[0], per_step[1])  # and each sequence of the batch has its own


@needs_tf
def test_training_with_step_dropout_saves_a_plain_lstm_that_exports_to_the_fused_op(tmp_path) -> None:
    """--dropout-masks step trains through the per-step cell, then saves Keras's own LSTM with the same weights."""
    from edge_sentiment import Predictor
    from edge_sentiment.export.exporter import export_bundle
    from edge_sentiment.export.kerasfile import load_keras_model
    from edge_sentiment.train.trainer import train

    archive = make_archive(tmp_path / "aclImdb.tar.gz", per_class=24)
    small = dict(vocab_size=40, max_len=20, embedding_dim=4, lstm_units=4, epochs=1, batch_size=8)
    recipe = get_recipe("lab-keras2").with_overrides(**small)
    metrics = train(archive, tmp_path / "run", recipe, verbose=0)
    assert metrics["recipe"]["dropout_masks"] == "step"
    model = load_keras_model(tmp_path / "run" / "model.keras")
    lstm = model.get_layer("lstm")
    assert type(lstm).__name__ == "LSTM" and (lstm.dropout, lstm.recurrent_dropout) == (0.2, 0.2)
    manifest = export_bundle(tmp_path / "run", tmp_path / "bundle", parity_samples=16).manifest
    assert manifest["model"]["op_census"].get("LSTM") == 1 and not {"Loop", "Scan"} & set(manifest["model"]["op_census"])
    texts = ["w1 w2 good", "bad bad w3", ""]
    predictor = Predictor.load(tmp_path / "bundle")
    keras_p = model.predict(predictor.tokenizer.encode_batch(texts), verbose=0)[:, 0]
    np.testing.assert_allclose(predictor.predict_proba(texts), keras_p, rtol=0, atol=1e-5)

"""Training recipes under names that keep their meaning: the lab's, exactly, and the default bundle's (plain data)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = ["Recipe", "RECIPES", "ALIASES", "POOLINGS", "SCHEDULES", "CELLS", "DROPOUT_MASKS", "VOCABULARIES", "get_recipe"]

# "last": the Dense layer reads the LSTM's final state. "max": the element-wise maximum of the LSTM's
# outputs over the text's words (pads left out), "mean-max": their mean and maximum side by side.
POOLINGS = ("last", "max", "mean-max")
# "constant": the learning rate as given (times learning_rate_decay after every epoch). "cosine": from the
# learning rate down to 0 along a half cosine, step by step, over the recipe's epochs.
SCHEDULES = ("constant", "cosine")
# The recurrent layer: Keras LSTM, or GRU (reset_after=True, Keras's default; one fused ONNX GRU op).
CELLS = ("lstm", "gru")
# The recurrent layer's own dropout while training. "sequence": Keras 3's, one mask per sequence reused at
# every time step; "step": Keras 2's inside fit(), new masks at every time step (train/stepdropout.py).
DROPOUT_MASKS = ("sequence", "step")
# The token ids a run trains on. "own": our tokenizer, fit on the training reviews; "keras-imdb": the ids
# of keras.datasets.imdb.load_data, rebuilt from the raw reviews with the Keras word index.
VOCABULARIES = ("own", "keras-imdb")


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a training run: vocabulary, model shape and optimisation."""

    name: str = "lab"
    vocab_size: int = 5000
    max_len: int = 500
    embedding_dim: int = 32
    lstm_units: int = 100  # units of the recurrent layer (per direction), LSTM or GRU
    cell: str = "lstm"  # the recurrent layer: "lstm" or "gru"
    dropout: float = 0.2  # on the LSTM's inputs
    dropout_per_step: bool = False  # False: the LSTM's own input dropout (the lab); True: a Dropout layer
    recurrent_dropout: float = 0.2
    dropout_masks: str = "sequence"  # the LSTM's dropout masks: one per sequence (Keras 3) or per "step" (Keras 2)
    word_dropout: float = 0.0  # drops whole words (their embedding vectors) during training
    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 0.001
    learning_rate_decay: float = 1.0  # the learning rate is multiplied by this after every epoch
    learning_rate_schedule: str = "constant"  # or "cosine": down to 0 over the epochs, step by step
    seed: int = 7
    validation_split: float = 0.0  # held out of the training set, never the test set
    early_stopping_patience: int = 0  # 0 = off; else stop on validation loss, keep the best weights
    crop_fraction: float = 0.0  # add this many (x the training set) random crops of reviews
    crop_min_words: int = 5  # a crop is a window of crop_min_words..crop_max_words consecutive words
    crop_max_words: int = 60
    pooling: str = "last"  # what the Dense layer reads: the LSTM's last state (the lab), or "max"/"mean-max" over the words
    bidirectional: bool = False  # a second LSTM reading the words backwards (needs pooling over the words)
    word2vec_epochs: int = 0  # 0: random embedding; else pre-trained with word2vec on the training text first
    embedding_rank: int = 0  # 0: the embedding as trained; else folded after training to this width (train/fold.py)

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"unknown cell {self.cell!r}; choose one of: {', '.join(CELLS)}")
        if self.dropout_masks not in DROPOUT_MASKS:
            raise ValueError(f"unknown dropout masks {self.dropout_masks!r}; choose one of: {', '.join(DROPOUT_MASKS)}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {self.pooling!r}; choose one of: {', '.join(POOLINGS)}")
        if self.bidirectional and self.pooling == "last":
            raise ValueError(
                "a bidirectional LSTM's last state depends on the padding (the backward direction "
                "ends on the pads): choose a pooling over the words, e.g. --pooling max"
            )
        if self.learning_rate_schedule not in SCHEDULES:
            raise ValueError(
                f"unknown learning rate schedule {self.learning_rate_schedule!r}; choose one of: {', '.join(SCHEDULES)}"
            )
        if self.learning_rate_schedule == "cosine" and self.learning_rate_decay != 1.0:
            raise ValueError("a cosine schedule sets the learning rate at every step: leave learning_rate_decay at 1")
        if not 0.0 < self.learning_rate_decay <= 1.0:
            raise ValueError(f"learning_rate_decay must be in (0, 1], got {self.learning_rate_decay}")
        if self.crop_min_words > self.crop_max_words:
            raise ValueError(f"crop_min_words ({self.crop_min_words}) is above crop_max_words ({self.crop_max_words})")
        if not 0 <= self.embedding_rank < self.embedding_dim:
            raise ValueError(
                f"embedding_rank ({self.embedding_rank}) must be below the embedding width "
                f"({self.embedding_dim}) it folds: lower --embedding-rank, or give 0 for no fold"
            )
        if self.early_stopping_patience and not self.validation_split:
            raise ValueError(
                "early stopping watches the validation loss: give a validation_split above 0 "
                "(--validation-split) or set the patience to 0"
            )

    @property
    def recurrent_name(self) -> str:
        """The Keras name of the model's recurrent layer."""
        return f"bidirectional_{self.cell}" if self.bidirectional else self.cell

    def with_overrides(self, **overrides: Any) -> "Recipe":
        """A copy with the given fields changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


RECIPES: dict[str, Recipe] = {
    # The classic lab: 3 epochs, batch 64, seed 7; reported 89.32 % train / 86.63 % test accuracy.
    "lab": Recipe(),
    # The lab as it ran on Keras 2: the same, with the LSTM's dropout masks drawn anew at every time step
    # as Keras 2's fit() did (Keras 3 keeps one per sequence). What reproduces the lab: docs/lab.md.
    "lab-keras2": Recipe(name="lab-keras2", dropout_masks="step"),
    # "better": a bidirectional LSTM(64) whose outputs are pooled over the words (mean and
    # maximum), a 10,000-word vocabulary, input dropout 0.4 on the embeddings, extra random crops of
    # 3-100 words, a 256-wide embedding started from word2vec vectors of the training text, two epochs
    # of a cosine learning rate, early stopping on a 10 % validation split, then the embedding folded to
    # 16 wide (train/fold.py). Needs gensim. How it was chosen: docs/experiments.md.
    "bilstm64-w2v256-fold16": Recipe(
        name="bilstm64-w2v256-fold16",
        vocab_size=10000,
        embedding_dim=256,
        embedding_rank=16,
        word2vec_epochs=5,
        lstm_units=64,
        dropout=0.4,
        dropout_per_step=True,
        recurrent_dropout=0.0,
        epochs=2,
        learning_rate_schedule="cosine",
        validation_split=0.1,
        early_stopping_patience=2,
        crop_fraction=1.0,
        crop_min_words=3,
        crop_max_words=100,
        pooling="mean-max",
        bidirectional=True,
    ),
}
# The same without the fold: the 256-wide model as trained (a 13 MiB bundle).
RECIPES["bilstm64-w2v256"] = RECIPES["bilstm64-w2v256-fold16"].with_overrides(name="bilstm64-w2v256", embedding_rank=0)
# The shipped bundle's ("default"): the same with 32 units per direction, as accurate on the validation
# reviews (whole and cut to 10 words) at about 0.6x the batch-1 time (tools/benchmarks/accuracy_latency.py,
# docs/experiments.md).
RECIPES["bilstm32-w2v256-fold16"] = RECIPES["bilstm64-w2v256-fold16"].with_overrides(name="bilstm32-w2v256-fold16", lstm_units=32)
# Names that point at a recipe: "default" the shipped bundle's, "better" the folded 64-unit one, "large"
# the unfolded 64-unit one. What each name has meant, and the options that rebuild it: docs/experiments.md.
ALIASES = {"default": "bilstm32-w2v256-fold16", "better": "bilstm64-w2v256-fold16", "large": "bilstm64-w2v256"}


def get_recipe(name: str) -> Recipe:
    """A recipe by its name or an alias of it."""
    try:
        return RECIPES[ALIASES.get(name, name)]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; choose one of: {', '.join([*RECIPES, *ALIASES])}") from None

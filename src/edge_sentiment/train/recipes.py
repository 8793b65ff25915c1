"""Training recipes: the lab's, exactly, and better ones beside it (plain data, no TensorFlow import)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

__all__ = ["Recipe", "RECIPES", "get_recipe"]


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a training run: vocabulary, model shape and optimisation."""

    name: str = "lab"
    vocab_size: int = 5000
    max_len: int = 500
    embedding_dim: int = 32
    lstm_units: int = 100
    dropout: float = 0.2  # on the LSTM's inputs, a fresh mask per time step (see model.py)
    recurrent_dropout: float = 0.2
    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 0.001
    seed: int = 7
    validation_split: float = 0.0  # held out of the training set, never the test set
    early_stopping_patience: int = 0  # 0 = off; else stop on validation loss, keep the best weights
    crop_min_words: int = 0  # 0 = off; else also train on random crops of reviews this long and up

    def with_overrides(self, **overrides: Any) -> "Recipe":
        """A copy with the given fields changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


RECIPES: dict[str, Recipe] = {
    # The classic lab: 3 epochs, batch 64, seed 7; reported 89.32 % train / 86.63 % test accuracy.
    "lab": Recipe(),
}


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}") from None

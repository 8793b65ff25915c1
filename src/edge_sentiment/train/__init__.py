"""Training: recipes, the Keras model and the training run (TensorFlow is imported only when training)."""

from .recipes import RECIPES, Recipe, get_recipe

__all__ = ["RECIPES", "Recipe", "get_recipe"]

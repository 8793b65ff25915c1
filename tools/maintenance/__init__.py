"""Scripts that keep the repository's generated files current: docs, the shipped bundle, test assets, reliability."""

"""What is not the product: benchmarks/ (scripts, their outputs in results/), experiments/, maintenance/.

Run the scripts from the project's root (`python tools/maintenance/docs.py`); tests import
`tools.maintenance` through pytest's `pythonpath = ["."]` (pyproject.toml).
"""

"""Experiment configs: `configs/<name>.py` files with `get_config()`, built on `default.py`."""

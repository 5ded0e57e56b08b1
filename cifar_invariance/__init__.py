"""The installed commands of this project (`train`, `sweep`, `evaluate`, see pyproject.toml).

This package has a name no other distribution uses, so that its code can run before any of
the project's generic top-level names (`evaluate`, `models`, `data`, ...) is imported and
check that they are the project's own (cifar_invariance.startup). It imports nothing at
import time.
"""

"""Evaluation: test accuracy now; the invariance protocols and metrics build on the same pieces."""

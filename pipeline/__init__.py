"""Whole runs composed from the parts below: train (training/), then evaluate (evaluate/).

  train_then_evaluate.py  train_and_evaluate(config, workdir): what train.py, sweeps/ and the
                          Colab notebook call
"""

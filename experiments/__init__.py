"""Experiments: measurements that answer a question about the methods, not timings.

  afc_stability        training stability of the alias-free (afc) network's initialisations
  shift_exactness      how far each downsampling strategy is from exactly shift-invariant
  bootstrap_coverage   simulated coverage of the paired bootstrap interval (docs/evaluation.md)
  beyond_blurpool_fractional_eval   an eval config: only the beyond-BlurPool sweep's sub-pixel
                       protocols (`python -m evaluate --config experiments/...`)

Each runs as `python -m experiments.<name>` (the eval config through `python -m evaluate`).
"""

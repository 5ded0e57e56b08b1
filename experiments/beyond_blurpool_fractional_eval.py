"""Eval config: only the sub-pixel protocols of configs/sweeps/beyond_blurpool.py.

For a member whose full evaluation is too slow for the machine (the upsampled-ReLU network,
then labelled alias_free and resampled by FFT, cost about 10x a strided one per evaluated
image, and the full circular grid alone took ~28 minutes of a 2-core CPU at 100 images):

  python -m evaluate --workdir "runs/beyond_blurpool_cpu/alias_free,seed=0" \
      --config experiments/beyond_blurpool_fractional_eval.py \
      --out_dir "runs/beyond_blurpool_cpu/alias_free,seed=0/eval_fractional"

(Runs made since the member was relabelled are in "upsampled_relu,seed=N"; the afc member
is "afc,seed=N".)
"""
from configs.sweeps import beyond_blurpool


# The sweep's sub-pixel protocol types.
SUB_PIXEL_TYPES = ("fractional_shift", "shift_attack")


def get_config():
  """The sweep's ':cpu' eval section (100 images, same selection and seed) with only its
  sub-pixel protocols: fractional_half, fractional_quarter (both variants) and the shift
  attack."""
  config = beyond_blurpool.get_config("cpu").base.eval
  protocols = config.protocols
  config.protocols = {name: entry.to_dict() for name, entry in protocols.items()
                      if entry.type in SUB_PIXEL_TYPES}
  return config

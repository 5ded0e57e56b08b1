"""Eval config: the shift attack alone on 100 images of the beyond-BlurPool study's runs.

RESULTS.md's study (configs/sweeps/beyond_blurpool.py:cpu_seeds) runs the attack on 8 of its
200 evaluation images (STUDY_PROTOCOL_IMAGES there), to stay within its CPU budget. This
config evaluates a trained member again with the attack alone, on 100 of the same 200 images,
into a directory of its own (no retraining; the study's eval/ is left as it is):

  python -m evaluate --workdir "runs/beyond_blurpool_seeds/stride,seed=0" \
      --config experiments/beyond_blurpool_attack_eval.py \
      --out_dir "runs/beyond_blurpool_seeds/stride,seed=0/eval_attack100"

and the members compare as usual (`python -m evaluate.compare --workdir
"runs/beyond_blurpool_seeds/stride,seed=*/eval_attack100" ... --pair_seeds`). Cost: about
9 s per image for the stride member on a shared 2-core CPU (1.3x the 1024-roll circular grid
per image, `python -m benchmarks.attack_cost`), so about 15 minutes per run, 4.5 hours for the
study's 18 runs.
"""
from configs.sweeps import beyond_blurpool

ATTACK_IMAGES = 100  # Images the attack runs on, of the study's evaluation images.


def get_config():
  """The ':cpu_seeds' study's eval section (its 200 images, selection and seed) with only its
  shift_attack protocol, on ATTACK_IMAGES of those images."""
  config = beyond_blurpool.get_config("cpu_seeds").base.eval
  attack = config.protocols.shift_attack.to_dict()
  attack["num_images"] = ATTACK_IMAGES  # A nested subset of the evaluation's images.
  config.protocols = {"shift_attack": attack}
  return config

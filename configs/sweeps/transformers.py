"""Sweep: shift-equivariant vision transformers against the ResNet-20 stride baseline.

  python sweep.py --config configs/sweeps/transformers.py --workdir runs/transformers
  python sweep.py --config configs/sweeps/transformers.py:cpu --workdir runs/transformers_cpu
  python sweep.py --config configs/sweeps/transformers.py:cpu_seeds --workdir runs/transformers_seeds
Members (the transformers' options: configs/vit.py, configs/cct.py, configs/afvit.py):
  vit_stride       the plain CIFAR ViT (patchify, learned absolute position embedding, zero
                   padding, gap): not invariant even to integer shifts
  vit_aps_peg      Ding et al.'s polyphase-anchored patch embedding (downsample=aps), the
                   circular convolutional position encoding (posemb=peg), circular padding,
                   gap: exactly invariant to every integer circular shift
  afvit            the alias-free ViT (Michaeli & Soudry 2025): invariant up to float rounding
                   to integer and half-pixel circular shifts of raw images
  cct              the compact convolutional transformer as configs/cct.py writes it (plain
                   strided tokenizer pool, learned position embedding, sequence pooling)
  resnet20_stride  ResNet-20 with circular padding and strided subsampling: the CNN baseline
                   of configs/sweeps/beyond_blurpool.py
Each member replaces the whole model section (the transformers' options are not the CNNs') and
brings its own optimiser recipe (optimizer, learning_rate, weight_decay, label_smoothing of its
run config, after the scale); the length of training, the data and the evaluation are shared
(so --config.base.train.num_epochs=2 reaches every member, --config.base.model.* none: the
members' model sections replace the base's). summary.csv shows each member's model section
in its 'model' column.
Protocols: every integer circular shift (full 32 x 32 grid), the paper's crop, black embedding
and embedding scale (configs/scales.py, sampled pairs), and every half-pixel circular shift of
the raw image (fractional_shift, full 64 x 64 grid).
Scales (configs/scales.py): '' full scale (GPU/TPU); ':cpu' and ':cpu_seeds' shrink the
transformers to CPU_TRANSFORMER_SIZE (width 32, depth 2, 2 heads, AdamW at 1e-3) and the
ResNet to width 8. At CPU scale the claims are the exact properties, not accuracy. Not run yet
at any scale; not accepted by `python -m sweeps.paper_scale` (its module docstring says why).
"""
import ml_collections

from configs import afvit, cct, default, scales, vit
from sweeps import default_sweep_config

# The scales this sweep offers (configs/scales.py has no 'cpu_trained' setting for transformers).
OFFERED_SCALES = ("", "cpu", "cpu_seeds")
# The training fields each member takes from its own run config (after the scale).
RECIPE_FIELDS = ("optimizer", "learning_rate", "weight_decay", "label_smoothing")
# Test images per protocol in the ':cpu_seeds' study where the full grids (1024 rolls, 4096
# half-pixel shifts per image) need fewer than configs/scales.py's STUDY_PROTOCOL_IMAGES.
STUDY_PROTOCOL_IMAGES = {"circular": 20, "fractional_half": 20, "embed_black": 40}


def _protocols():
  """scales.paper_protocols (sampled pairs), the full integer and half-pixel circular grids."""
  protocols = scales.paper_protocols(sample_pairs=32)
  # Every roll (dy, dx) of the image, full grid: exhaustive worst case over integer shifts.
  protocols.circular = dict(type="circular_shift")
  # Every half-pixel circular shift of the raw image (64 x 64 points of the torus).
  protocols.fractional_half = dict(type="fractional_shift", step=0.5, max_shift=None,
                                   band_limit=False)
  return protocols


def _member(label, run_config, scale, **model_options):
  """Settings of one member: `run_config`'s model section with `model_options`, and its
  recipe (RECIPE_FIELDS), both after `scale`."""
  config = run_config.get_config()
  config.model.update(model_options)
  scale.apply(config)
  settings = {"label": label, "model": config.model.to_dict()}
  settings.update({f"train.{field}": config.train[field] for field in RECIPE_FIELDS})
  return settings


def get_config(arg: str = ""):
  """arg: a scale of configs/scales.py ('' full scale, 'cpu', 'cpu_seeds')."""
  scale = scales.get_scale(arg, "configs/sweeps/transformers.py")
  if arg not in OFFERED_SCALES:
    raise ValueError(f"configs/sweeps/transformers.py takes a scale, one of "
                     f"{', '.join(repr(name) for name in OFFERED_SCALES)}, got {arg!r}")
  base = default.get_config()
  base.model.name = "resnet20"
  base.model.padding = "circular"
  base.eval.protocols = _protocols()
  scale.apply(base)
  if arg == "cpu_seeds":
    scales.set_protocol_images(base.eval.protocols, STUDY_PROTOCOL_IMAGES)
  sweep = default_sweep_config(base)
  sweep.members = [
      _member("vit_stride", vit, scale),
      _member("vit_aps_peg", vit, scale, downsample="aps", posemb="peg", padding="circular",
              pool="gap"),
      _member("afvit", afvit, scale),
      _member("cct", cct, scale),
      _member("resnet20_stride", default, scale, name="resnet20", padding="circular",
              downsample="stride"),
  ]
  sweep.seeds = scale.seeds
  return sweep

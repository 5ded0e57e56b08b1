"""Sweep: beyond BlurPool. Truly shift-invariant downsampling, alias-free networks, worst-of-k.

  python sweep.py --config configs/sweeps/beyond_blurpool.py --workdir runs/beyond_blurpool
  python sweep.py --config configs/sweeps/beyond_blurpool.py:cpu --workdir runs/beyond_blurpool_cpu
  python sweep.py --config configs/sweeps/beyond_blurpool.py:cpu_seeds --workdir runs/beyond_blurpool_seeds
':cpu_seeds' is the multi-seed study of RESULTS.md (configs/scales.py, apply_cpu_study_scale),
with eight of the members and fewer images for some protocols (STUDY_MEMBERS and
STUDY_PROTOCOL_IMAGES below).
Members: ResNet-20 with circular padding (so that exact invariance to circular shifts is
possible at all) and subsampling, differing only in how it subsamples or trains:
  stride             plain strided subsampling (the baseline)
  blur3, blur5       BlurPool, binomial filters 3 and 5 (Zhang 2019)
  aps                adaptive polyphase sampling, l2 norm, no blur (Chaman & Dokmanic 2021)
  aps_blur3          APS with a size-3 binomial blur before taking the component
  lps                learnable polyphase sampling, no blur (Rojas-Gomez et al. 2022); its
                     temperature schedule at its config defaults
  upsampled_relu     ideal low-pass downsampling and the upsampled ReLU (alias_free_relu: ReLU
                     on the x2 grid, ideally low-passed back; the StyleGAN3 recipe, which only
                     reduces aliasing). Labelled 'alias_free' before: runs made then live in
                     the sub-directory 'alias_free,seed=N'.
  afc                the alias-free convnet of Michaeli, Michaeli & Soudry (CVPR 2023) as
                     models.afc_options builds it: ideal downsampling, their trainable
                     per-channel polynomial on the x2 grid (afc_poly, which also drops the
                     input's Nyquist content), and the two residual-block options without
                     which the polynomial ResNet does not train (activation on the branch
                     before the sum, each branch's last BatchNorm scale starting at 0:
                     models/resnet.py, docs/models.md); the same training recipe as the rest
  stride_afc_blocks  the afc ablation, step 1: plain stride with afc's two residual-block
                     options only (ReLU, strided subsampling)
  afc_poly_stride    the afc ablation, step 2: afc's block options and its polynomial
                     (afc_poly), with strided subsampling instead of ideal downsampling.
                     stride -> stride_afc_blocks -> afc_poly_stride -> afc changes one thing
                     at a time (blocks, nonlinearity, downsampling), so that paired
                     differences between neighbours credit each change on its own
  stride_worst_of_10 plain stride trained on the worst of 10 crops per example (the same
                     crop + flip augmentation as every other member, the crop chosen by the
                     model's loss): translation-only worst-of-k; Engstrom et al. (2019) also
                     drew rotations
Protocols: every integer circular shift (the full 32 x 32 grid, so that its worst-case
accuracy and 'stable at every point' are exhaustive: the adversarial measure of the alias-free
papers), the paper's crop, black embedding and embedding scale (configs/scales.py, sampled
pairs), sub-pixel circular shifts (fractional_shift), each in both variants (raw image; and
band-limited, `_band_limited`: the Nyquist row and column removed at every grid point): every
half-pixel shift of the torus (the full 64 x 64 grid: exhaustive worst case) and the full
quarter-pixel grid within one pixel; and the sub-pixel adversary (shift_attack: the integer
grid, then gradient ascent over continuous shifts from its 2 worst points and 4 random
starts). Per evaluated image that is about 1024 + 2 x 4096 + 2 x 81 forward passes for the
grids and 1024 + 6 x 11 forward passes with 6 x 10 gradients for the attack.
Expected, from the papers: APS gives 100% circular-shift consistency with no loss of accuracy
(Chaman & Dokmanic, "Truly shift-invariant convolutional neural networks", CVPR 2021, CIFAR-10).
LPS is exactly invariant like APS; the alias-free convnet (afc) is invariant up to float
rounding to integer and sub-pixel circular shifts alike (tests/test_afc.py, raw images),
which APS is not; the upsampled ReLU is exact only through its first subsampling, so close to
but not exactly invariant (docs/models.md); worst-of-k training lowers, but does not remove,
the sensitivity of the strided network.
Full scale: 11 runs x 3 seeds of 30 epochs (GPU/TPU), 1000 evaluation images. ':cpu': ResNet-20
width 8, 20000 images, 3 epochs, 100 evaluation images, one seed (configs/scales.py).
An earlier session ran ':cpu' with --config.base.train.num_epochs=1.5: each member took 10-14
minutes of training and evaluation on a 2-core CPU, worst-of-10 16, the upsampled ReLU (then
with FFT resampling) over an hour; plan on about 4 hours for ':cpu' at its 3 epochs.
RESULTS.md reports ':cpu_seeds' (six members x 3 seeds): about 1 h 40 min of this CPU with two
sweep processes sharing it (python sweep.py ... twice on one workdir: they split the members).
Train-step cost of each member relative to stride, by CPU time: 1.2-1.5x for blur, APS and
LPS, 3.4x for worst-of-10 (python -m benchmarks.sweep_step_cost; table in docs/performance.md);
2.1x for upsampled_relu (5.3x with the FFT resampling it had before) and 2.5x for afc
(python -m benchmarks.sweep_step_cost --members=stride,upsampled_relu,afc --steps=3
--repeats=3, on a shared 2-core CPU).
"""
from configs import default, scales
from sweeps import default_sweep_config

# The ':cpu_seeds' study's members: one of each kind of fix. Left out to buy three seeds for
# the rest within the study's CPU budget: blur3 and aps_blur3, and upsampled_relu (the
# StyleGAN3 partial fix, whose FFT-free resampling still costs about 2x stride per step and
# 2.5x per evaluated image; afc is the alias-free network of the papers).
STUDY_MEMBERS = ("stride", "blur5", "aps", "lps", "afc", "stride_worst_of_10",
                 "stride_afc_blocks", "afc_poly_stride")
# Test images per protocol in the ':cpu_seeds' study where this sweep, the study's costliest
# (nine protocols; the adversary's and the circular grid's 1000+ forward passes per image),
# uses fewer than configs/scales.py's STUDY_PROTOCOL_IMAGES (the full grid of 1024 rolls among
# them, which the other sweeps sample).
STUDY_PROTOCOL_IMAGES = {"circular": 20, "embed_black": 40, "embed_scale": 100,
                         "fractional_quarter": 20, "fractional_quarter_band_limited": 20,
                         "shift_attack": 8}


def _protocols():
  """scales.paper_protocols (sampled pairs), the circular and fractional shift grids (both
  fractional variants) and the shift attack."""
  protocols = scales.paper_protocols(sample_pairs=32)
  # Every roll (dy, dx) of the image, full grid: exhaustive worst case over integer shifts.
  protocols.circular = dict(type="circular_shift")
  for suffix, band_limit in (("", False), ("_band_limited", True)):
    # Every half-pixel circular shift of the torus, full grid (64 x 64 points): exhaustive.
    protocols["fractional_half" + suffix] = dict(
        type="fractional_shift", step=0.5, max_shift=None, band_limit=band_limit)
    # Quarter-pixel shifts with |dy|, |dx| <= 1 pixel, full grid (9 x 9 points).
    protocols["fractional_quarter" + suffix] = dict(
        type="fractional_shift", step=0.25, max_shift=1.0, band_limit=band_limit)
  # The sub-pixel adversary at its defaults (evaluate/protocols.py, shift_attack): its
  # adversarial accuracy is at most circular's worst-case accuracy by construction.
  protocols.shift_attack = dict(type="shift_attack")
  return protocols


def get_config(arg: str = ""):
  """arg: a scale of configs/scales.py ('' full scale, 'cpu', 'cpu_seeds': the multi-seed study
  of RESULTS.md, STUDY_MEMBERS only, ...)."""
  scale = scales.get_scale(arg, "configs/sweeps/beyond_blurpool.py")
  base = default.get_config()
  base.model.name = "resnet20"
  base.model.padding = "circular"
  # Residual blocks (set by 'afc' only, see models/resnet.py): nonlinearity on the sum (True)
  # or on the branch before the sum (False); each branch's last norm scale starting at 0.
  base.model.activation_after_sum = True
  base.model.zero_init_residual = False
  base.eval.protocols = _protocols()
  scale.apply(base)
  if arg == "cpu_seeds":
    scales.set_protocol_images(base.eval.protocols, STUDY_PROTOCOL_IMAGES)
  sweep = default_sweep_config(base)
  sweep.members = [
      {"label": "stride", "model.downsample": "stride"},
      {"label": "blur3", "model.downsample": "blurpool", "model.blur_size": 3},
      {"label": "blur5", "model.downsample": "blurpool", "model.blur_size": 5},
      {"label": "aps", "model.downsample": "aps", "model.blur_size": 1},
      {"label": "aps_blur3", "model.downsample": "aps", "model.blur_size": 3},
      {"label": "lps", "model.downsample": "lps", "model.blur_size": 1},
      {"label": "upsampled_relu", "model.downsample": "ideal",
       "model.nonlinearity": "alias_free_relu"},
      {"label": "afc", "model.downsample": "ideal_pool", "model.nonlinearity": "afc_poly",
       "model.activation_after_sum": False, "model.zero_init_residual": True},
      {"label": "stride_worst_of_10", "model.downsample": "stride",
       "augment.policies": "flip,worst_of_k", "augment.worst_of_k.k": 10,
       "augment.worst_of_k.policy": "crop"},
      # The afc ablation (after the rest, so that the earlier members keep their --index).
      {"label": "stride_afc_blocks", "model.downsample": "stride",
       "model.activation_after_sum": False, "model.zero_init_residual": True},
      {"label": "afc_poly_stride", "model.downsample": "stride", "model.nonlinearity": "afc_poly",
       "model.activation_after_sum": False, "model.zero_init_residual": True},
  ]
  if arg == "cpu_seeds":
    sweep.members = [m for m in sweep.members if m["label"] in STUDY_MEMBERS]
  sweep.seeds = scale.seeds
  return sweep

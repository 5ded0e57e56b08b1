"""Shared settings of the paper-experiment configs: their evaluation protocols and CPU scale.

Not a run config itself (no get_config); imported by configs/fig10_augmentation.py and the
sweeps in configs/sweeps/.
"""
import ml_collections

# Settings of the ':cpu' variants: what makes a paper experiment finish in minutes per run on
# a 2-core CPU. RESULTS.md reports results at exactly these settings.
CPU_TRAIN_SUBSET = 20000  # Training images, of 50000 (a class-balanced prefix, data/config.py).
CPU_EPOCHS = 3.0  # Passes over that subset.
CPU_EVAL_IMAGES = 100  # Test images per invariance evaluation (the paper used 1000).
CPU_RESNET_WIDTH = 8  # ResNet-20 first-stage channels (16 is the standard ResNet-20).
CPU_ALEXNET_WIDTH = 16  # AlexNet-style conv channels (64 at full scale).
CPU_BATCH_SIZE = 128  # More, smaller steps than the full-scale batches: few epochs here.
CPU_LEARNING_RATE = {"resnet": 0.1, "alexnet": 0.05}  # Peak SGD rate per model family.


def paper_protocols(sample_pairs: int = 0) -> ml_collections.ConfigDict:
  """The protocols of figures 10 and 11: black embedding over a range of sizes (with sizes
  smaller than any augmentation used in training), crop of an upscaled image, and the
  size-to-size rescaling step.

  Args:
    sample_pairs: 0 = full grids; K > 0 = K random one-pixel pairs per image and size (the
      paper's sampling, much cheaper for the small sizes with many positions), plus K
      uniformly drawn positions per image and size for accuracy, worst case and consistency.
  """
  return ml_collections.ConfigDict(dict(
      # Downscaled to side s, every position in a black 32x32 canvas.
      embed_black=dict(type="embed_shift", sizes=(8, 12, 16, 20, 24, 28), fill="black",
                       sample_pairs=sample_pairs),
      # 32x32 windows of the image upscaled 1.25x, one pixel apart diagonally.
      crop=dict(type="crop_shift", scale=1.25, direction="diagonal",
                sample_pairs=sample_pairs),
      # Centred, side s versus s + 1.
      embed_scale=dict(type="embed_scale", sizes=tuple(range(8, 32)), fill="black"),
  ))


def apply_cpu_scale(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks a run config in place to the CPU scale above (model width by model family)."""
  config.data.train_subset = CPU_TRAIN_SUBSET
  config.train.num_epochs = CPU_EPOCHS
  config.train.num_steps = 0
  config.train.warmup_epochs = 0.5
  config.train.log_every_steps = 50
  config.train.checkpoint_every_steps = 200
  family = "resnet" if config.model.name.startswith("resnet") else "alexnet"
  config.model.width = CPU_RESNET_WIDTH if family == "resnet" else CPU_ALEXNET_WIDTH
  config.train.batch_size = CPU_BATCH_SIZE
  config.train.learning_rate = CPU_LEARNING_RATE[family]
  config.eval.num_images = CPU_EVAL_IMAGES
  config.eval.num_jagged_images = 2
  return config


# Settings of the ':cpu_seeds' variants of the three headline sweeps (figure 11, the BlurPool
# filters, beyond BlurPool): the multi-seed study RESULTS.md reports, every member trained with
# each of STUDY_SEEDS, the three sweeps together in about 2 hours of a 2-core CPU. Smaller runs
# than ':cpu' (which trains one seed on 20000 images for 3 epochs) buy the seeds; the
# comparisons are paired differences with intervals over seeds and images (evaluate/bootstrap.py).
STUDY_SEEDS = (0, 1, 2)  # Training seeds per member.
STUDY_TRAIN_SUBSET = 5000  # Training images, of 50000 (a class-balanced prefix).
STUDY_EPOCHS = 2.0  # Passes over that subset (78 steps of 128 images).
STUDY_EVAL_IMAGES = 200  # Test images drawn for the evaluation (config.eval.num_images).
STUDY_SAMPLE_PAIRS = 8  # Random pairs (and positions) per image and size, sampled protocols.
# Test images per protocol (each a nested subset of the STUDY_EVAL_IMAGES, evaluate/config.py):
# the cheap sampled protocols on all of them, the costlier ones (6 sizes of embed_black, full
# grids: 81 quarter-pixel points, the adversary's 1000+ forward passes) on fewer. Protocols
# not named: every image (a sweep with costlier protocols, such as the full grid of 1024
# rolls in configs/sweeps/beyond_blurpool.py, sets its own counts after this scale).
STUDY_PROTOCOL_IMAGES = {
    "embed_black": 100,
    "fractional_quarter": 40,
    "fractional_quarter_band_limited": 40,
    "fractional_half": 100,  # Sampled pairs on the half-pixel torus in the study.
    "fractional_half_band_limited": 100,
    "shift_attack": 10,
}


def apply_cpu_study_scale(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks a run config in place to the multi-seed study scale above: the CPU scale's model
  widths, batch and learning rates, STUDY_TRAIN_SUBSET images for STUDY_EPOCHS, and the
  evaluation's image counts; sampled protocols draw STUDY_SAMPLE_PAIRS pairs, and the
  half-pixel torus is sampled instead of exhaustive (its worst case is then an upper bound)."""
  apply_cpu_scale(config)
  config.data.train_subset = STUDY_TRAIN_SUBSET
  config.train.num_epochs = STUDY_EPOCHS
  config.train.warmup_epochs = 0.25
  config.train.log_every_steps = 20
  config.train.checkpoint_every_steps = 50
  config.eval.num_images = STUDY_EVAL_IMAGES
  for name, entry in config.eval.protocols.items():
    if "sample_pairs" in entry and entry.sample_pairs:
      entry.sample_pairs = STUDY_SAMPLE_PAIRS
    if name.startswith("fractional_half"):
      entry.sample_pairs = STUDY_SAMPLE_PAIRS
    if name in STUDY_PROTOCOL_IMAGES:
      entry.num_images = STUDY_PROTOCOL_IMAGES[name]
  return config

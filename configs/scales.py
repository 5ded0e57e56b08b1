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

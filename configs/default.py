"""The default config, on which every experiment config is built.

Trains ResNet-20 (CIFAR form) with the standard crop+flip augmentation for 30 epochs.
  python train.py --config configs/default.py --workdir runs/default
Time: ResNet-20 trains at about 70 images/s on a 2-core CPU (python -m
benchmarks.train_step_overhead --models=resnet20 --width=16), i.e. about 6 hours for 30 epochs:
use a GPU, or configs/quickstart.py on a CPU. GPU times are not measured yet.
Any field can be overridden on the command line, e.g. --config.train.num_epochs=5.
"""
import ml_collections

from augment import default_augment_config
from data import default_data_config
from evaluate.config import default_eval_config


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0  # Seeds initialisation, data order and augmentation (all derived from it).

  # ---- Data: where CIFAR-10 comes from. Every field, with its comment, is in
  # data/config.py: source (auto | folder | cifar_python | tfds | synthetic), dir, cache_dir,
  # tfds_data_dir, train_subset, test_subset, synthetic_*. 'auto' uses data.dir, else
  # $CIFAR10_DIR, else TFDS.
  config.data = default_data_config()

  # ---- Model: a registered name plus its keyword options (see models/).
  config.model = ml_collections.ConfigDict()
  config.model.name = "resnet20"  # alexnet | alexnet_nostride | resnet20 | resnet18 | resnet50.
  config.model.num_classes = 10  # Output logits.
  config.model.width = 16  # Channels of the first stage (ResNet) or of every conv (AlexNet).
  # How the network subsamples: stride | blurpool | none | aps (adaptive polyphase) | lps
  # (learnable polyphase) | ideal (ideal low-pass below the new Nyquist frequency) |
  # ideal_pool (the same, with pooling layers replaced by the ideal low-pass).
  config.model.downsample = "stride"
  # Binomial blur size, 1..7 (1 = none), used by 'blurpool' and, before taking the polyphase
  # component, by 'aps' and 'lps'.
  config.model.blur_size = 3
  config.model.aps_norm = "l2"  # l2 | l1 | linf: component norm that 'aps' maximises.
  # 'lps': the scorer's hidden width is max(C // lps_hidden_divisor, 1) (1 = C, as the
  # reference code for CIFAR-10).
  config.model.lps_hidden_divisor = 4
  # Feature-map nonlinearity: relu | alias_free_relu (the upsampled ReLU: x2 upsample, ReLU,
  # ideal low-pass; StyleGAN3-style, it reduces aliasing but does not remove it) |
  # alias_free_poly (the same with one fixed degree-2 polynomial) | afc_poly (Michaeli et
  # al.'s trainable per-channel polynomial; the whole alias-free convnet is
  # models.afc_options(name): docs/models.md).
  config.model.nonlinearity = "relu"
  config.model.padding = "zeros"  # zeros | circular: padding of every conv and pool.
  # Padding of the BlurPool blur ('blurpool' only): reflect (Zhang's default; repeated for
  # pads >= the map size, as np.pad) | zeros | circular | auto (= circular if padding is
  # circular, which keeps circular models exactly equivariant, else reflect).
  config.model.blur_padding = "auto"
  config.model.dtype = "float32"  # Compute dtype (float32 | bfloat16); params stay float32.

  # ---- Augmentation, on the device, per example. Every field, with its comment, is in
  # augment/config.py: `policies` (comma-separated names applied in order, '' = none) and one
  # options sub-dict per policy (flip, crop, translate, downsize_embed, upscale_crop,
  # worst_of_k), used only when the policy is listed.
  config.augment = default_augment_config()
  config.augment.policies = "crop,flip"  # Standard CIFAR-10 augmentation.

  # ---- Training.
  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 128  # Global batch, split over all devices.
  config.train.num_epochs = 30.0  # Length of training, in passes over the training set...
  config.train.num_steps = 0  # ...or in optimiser steps, if > 0 (overrides num_epochs).
  config.train.optimizer = "sgd"  # sgd | adamw.
  config.train.learning_rate = 0.1  # Peak learning rate.
  config.train.momentum = 0.9  # SGD momentum (0 = none).
  config.train.nesterov = True  # Nesterov momentum for SGD.
  config.train.weight_decay = 5e-4  # L2 weight decay on kernels (not biases or norms).
  config.train.schedule = "cosine"  # cosine | onecycle | constant, after warm-up.
  config.train.warmup_epochs = 1.0  # Linear warm-up from 0 to learning_rate.
  config.train.label_smoothing = 0.0  # 0 = plain cross-entropy.
  # Lookahead around the optimiser (training/optim.py): every sync_period steps the slow
  # weights move slow_step_size of the way to the fast ones, which restart from them.
  config.train.lookahead = ml_collections.ConfigDict()
  config.train.lookahead.sync_period = 0  # Steps between syncs (0 = no Lookahead).
  config.train.lookahead.slow_step_size = 0.5  # Fraction of the way, in (0, 1].
  # Gumbel-softmax temperature of downsample='lps' in training (unused by other strategies;
  # evaluation always takes the hard argmax). See training/temperature.py.
  config.train.lps_temperature = ml_collections.ConfigDict()
  # exponential | linear | constant | step_decay (the LPS reference code's: x decay_factor
  # every decay_every_epochs epochs, floor `end`; the reference used 1.0, 0.85, 10, 0.025).
  config.train.lps_temperature.schedule = "exponential"
  config.train.lps_temperature.start = 1.0  # Temperature at step 0 (> 0).
  config.train.lps_temperature.end = 0.1  # After annealing (> 0, <= start); step_decay: floor.
  config.train.lps_temperature.anneal_fraction = 1.0  # Anneal over this fraction of the run.
  config.train.lps_temperature.decay_factor = 0.85  # step_decay: factor, in (0, 1].
  config.train.lps_temperature.decay_every_epochs = 10.0  # step_decay: period in epochs.
  config.train.eval_batch_size = 500  # Test-set batch for accuracy (rounded up to the devices).
  config.train.eval_every_epochs = 1  # Test accuracy every this many epochs, and at the end.
  config.train.log_every_steps = 100  # A metrics line (and progress line) every this many steps.
  config.train.checkpoint_every_steps = 500  # Checkpoint period; also saved at the end.
  config.train.keep_checkpoints = 3  # How many of the latest checkpoints to keep.
  # GPUs: XLA's --xla_gpu_deterministic_ops=true (set before JAX starts), so that a rerun or a
  # resumed run repeats the same reductions bit for bit (slower). CPU and TPU are deterministic
  # without it (see runtime/numerics.py and docs/training.md).
  config.train.deterministic_gpu_ops = False

  # ---- Resuming (rerun with the same --workdir). Fields that change the trained run
  # (optimiser, schedule, length, batch size, seed, data, augmentation, model) must equal
  # those saved with the checkpoint, unless named here: comma-separated dotted fields or
  # sections, e.g. 'train.num_epochs' to extend a run. See runtime/resume_config.py.
  config.resume = ml_collections.ConfigDict()
  config.resume.allow_changes = ""

  # ---- Invariance evaluation (python -m evaluate --workdir ..., or at the end of training
  # with run_after_training=True). Every field, with its comment, is in evaluate/config.py:
  # num_images, image_selection, seed, memory bound, and `protocols`, each a user-chosen
  # name -> dict(type=<crop_shift | embed_shift | embed_scale | circular_shift |
  # fractional_shift>, **options).
  config.eval = default_eval_config()
  return config

"""The config of `python -m evaluate.layers`: `default_layers_config()`.

Every analysis (evaluate.layers.ANALYSES) has its own section, named like the analysis; the
top-level fields choose the test images and the chunking shared by all of them. Override any
field on the command line: `--config.num_images=100 --config.shiftability.mode=crop`.
"""
from __future__ import annotations

import ml_collections


def default_layers_config() -> ml_collections.ConfigDict:
  """Every field at its default."""
  config = ml_collections.ConfigDict()
  # Comma-separated analyses to run, in order (names of evaluate.layers.ANALYSES).
  config.analyses = "shiftability,alignment,lie_derivative,readout,typicality"
  # Test images analysed (0 = the whole test set); 'random' draws them with `seed`, 'first'
  # takes the first ones (the same selection as `python -m evaluate`).
  config.num_images = 200
  config.image_selection = "random"
  config.seed = 0
  # Images per jitted call (rounded up to a multiple of the devices); each call holds
  # images x (1 + transformations) model inputs and all their intermediate maps.
  config.images_per_chunk = 25
  # Layers analysed: a regular expression on the captured module paths (re.search), e.g.
  # r'^(stem_norm|stage\d_block\d)$' for a ResNet's block outputs; '' = every captured layer.
  # See evaluate/layers/capture.py for what is captured.
  config.layer_pattern = ""

  # --- shiftability by layer (Azulay & Weiss sec. 3, figure 3) ---
  config.shiftability = ml_collections.ConfigDict()
  # Input shifts (dy, dx) in pixels; each is compared with the unshifted input.
  config.shiftability.shifts = ((1, 0), (0, 1), (1, 1))
  # 'circular': jnp.roll of the image; 'crop': the 32x32 window of the reflect-padded image
  # moved by (dy, dx) (new content enters at the border; errors then exclude crop_border).
  config.shiftability.mode = "circular"
  # 'crop' mode: input pixels at each border left out of the error (scaled to each layer's
  # size, rounded up).
  config.shiftability.crop_border = 4
  # Figure 3: this many images, each shifted down by 0..feature_map_shifts-1 pixels, with
  # the maps of feature_map_layers layers spread over the depth (0 = no figure).
  config.shiftability.feature_map_images = 2
  config.shiftability.feature_map_shifts = 4
  config.shiftability.feature_map_layers = 4

  # --- feature-map alignment (Jansson et al. 2020) ---
  config.alignment = ml_collections.ConfigDict()
  # Integer translations (dy, dx) of the input (circular), aligned by the map shifted by
  # (dy, dx) / stride through Fourier interpolation.
  config.alignment.translations = ((0, 1), (2, 3))
  # Rescalings of the input about the image centre (bilinear resampling, edge values outside),
  # aligned by the same rescaling of the map.
  config.alignment.scales = (0.8, 0.9, 1.1, 1.25)
  # Rotations of the input by multiples of 90 degrees (exact), aligned by the same rotation.
  config.alignment.rotations = (1,)
  # Input pixels at each border left out of the error (scaled to each layer's size, rounded
  # up), where a rescaling brings in or drops content.
  config.alignment.border = 4
  # Sub-sample offsets (map samples, per axis) searched for the best alignment: where a
  # strided map's samples sit relative to the input's centre is a convention (after a 90°
  # rotation a stride-s map is off by (s - 1) / s samples: for s = 4 add +-0.25, +-0.75).
  config.alignment.offsets = (-0.5, 0.0, 0.5)

  # --- the cumulative Lie derivative of each layer (the network up to it; docs/layers.md) ---
  config.lie_derivative = ml_collections.ConfigDict()
  # Remove the input images' Nyquist row and column first (their derivative along a
  # translation is 0 either way; what changes is what the network sees): True for networks
  # that are alias-free on band-limited inputs only.
  config.lie_derivative.band_limit = False

  # --- Gruver et al.'s layer-wise Lie derivative: each unit's own, pushed to the output ---
  config.lie_derivative_layerwise = ml_collections.ConfigDict()
  # The translation generator (evaluate/layers/translations.py): 'fourier' (t input pixels,
  # FFT phase ramp, as the cumulative analysis) or 'bilinear' (the paper's: normalised
  # coordinates, bilinear, reflected; t = 1 is 15.5 pixels of a 32-pixel image).
  config.lie_derivative_layerwise.translation = "fourier"
  # What the contributions are measured on: 'logits' or 'probabilities' (softmax, as the
  # paper's code).
  config.lie_derivative_layerwise.output = "logits"

  # --- readout by depth (figure 4) ---
  config.readout = ml_collections.ConfigDict()
  # Training images used to fit each layer's linear readout (0 = the whole training set).
  config.readout.train_images = 5000
  config.readout.epochs = 5
  config.readout.batch_size = 128
  config.readout.learning_rate = 1e-2
  config.readout.weight_decay = 1e-4
  # The crop protocol the readouts are evaluated under (evaluate.protocols options).
  config.readout.protocol = dict(type="crop_shift", scale=1.25, direction="diagonal",
                                 sample_pairs=8)

  # --- typicality (figures 7-8) ---
  config.typicality = ml_collections.ConfigDict()
  # Training images searched for neighbours (0 = all) and neighbours per test image.
  config.typicality.train_images = 10000
  # The feature layer (a captured layer name, pooled if a map); '' = the one before the last
  # (the penultimate features the classifier reads).
  config.typicality.layer = ""
  config.typicality.neighbours = 10
  config.typicality.bins = 5
  # Protocols evaluated per typicality bin (evaluate.protocols options).
  config.typicality.protocols = dict(
      crop=dict(type="crop_shift", scale=1.25, direction="diagonal", sample_pairs=8),
      embed_black=dict(type="embed_shift", sizes=(16, 24), fill="black", sample_pairs=8))
  # Figure: the most and least typical test images with their nearest training images.
  config.typicality.show_images = 4
  return config


def get_config() -> ml_collections.ConfigDict:
  """For `python -m evaluate.layers --config evaluate/layers/config.py`."""
  return default_layers_config()

"""The evaluation config, its one module: the defaults (`default_eval_config()`), completed
(`complete_eval_config(given)`), chosen for an evaluation (`resolve_eval_config`: given, or the
run's, or the defaults) and checked by building every protocol it names (`build_protocols`,
`check_eval_config`). Also a config file: `python -m evaluate --config evaluate/config.py`;
user eval configs import `default_eval_config` from here. Importing it imports no JAX (the
protocols are imported when built).

A run's evaluation settings live in `config.eval` (configs/default.py); a run whose
config.json has no `eval` section is evaluated with `default_eval_config()`. Every protocol
is declared as data: a user-chosen name -> dict(type=<a PROTOCOLS name>, **its options), plus
the evaluation options of PROTOCOL_EVALUATION_OPTIONS (how the evaluation runs that protocol,
not what the protocol is; they are taken out before the protocol's factory is called):

  num_images  evaluate this protocol on only K of the evaluation's images (an int, 1 <= K <=
              config.eval.num_images): the K drawn by evaluate.images.protocol_image_rows from
              config.eval.seed, the same K for every run with that seed and those images, nested
              as K grows. For exhaustive grids (every circular roll, a whole sub-pixel torus)
              next to cheap sampled protocols in one evaluation. Absent: every image.
"""
from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any, Optional

import ml_collections

from common.errors import ConfigError

# How the evaluated test images are chosen (see evaluate.images.select_test_images).
IMAGE_SELECTIONS = ("first", "random")
# config.eval.dtype values besides the model dtypes (models.layers.DTYPES): the run's own.
RUN_DTYPE = "model"
# Keys of a protocol entry that are options of the evaluation, not of the protocol's factory
# (module docstring).
PROTOCOL_EVALUATION_OPTIONS = ("num_images",)


def default_protocols() -> dict[str, dict[str, Any]]:
  """The protocols of Azulay & Weiss (2019), figures 2, 6, 10 and 11, adapted to 32x32."""
  return {
      # The paper's "crop" protocol: upscale by `scale`, take a 32x32 window at every offset;
      # a pair is two windows one pixel apart along `direction`.
      "crop": dict(type="crop_shift", scale=1.25, direction="diagonal"),
      # Downscale to side `size` (antialiased) and embed at every position of a black
      # (pixel value 0 before normalisation) canvas; one full grid per size.
      "embed_black": dict(type="embed_shift", sizes=(16, 20, 24, 28), fill="black"),
      # The same on an inpainted canvas (normalised-convolution fill of the background).
      "embed_inpaint": dict(type="embed_shift", sizes=(16, 20, 24, 28), fill="inpaint"),
      # Fixed (centred) position; side s versus s + 1, for every s in `sizes`.
      "embed_scale": dict(type="embed_scale", sizes=tuple(range(16, 32)), fill="black"),
      # Every roll (dy, dx) of the image: exact invariance test for circular-padded models.
      "circular": dict(type="circular_shift"),
  }


def default_eval_config() -> ml_collections.ConfigDict:
  """The `config.eval` section with every field at its default."""
  config = ml_collections.ConfigDict()
  # Number of test images evaluated (the paper used 1000); 0 = the whole test set; more than
  # the test set holds = all of them (with a note). A protocol may run on fewer of them: its
  # entry's `num_images` (module docstring).
  config.num_images = 1000
  # 'first': the first num_images test images; 'random': num_images drawn without
  # replacement with `seed` (the same images for every protocol and every run).
  config.image_selection = "random"
  # Seeds the image draw and the random grid-point pairs of the consistency metric (and the
  # sampled pairs and points of protocols with sample_pairs > 0).
  config.seed = 0
  # Images evaluated together per jitted call of the grid engine (with their whole grid if
  # that fits max_chunk_bytes, else with a slice of its grid points); 0 = planned from
  # max_chunk_bytes.
  config.images_per_chunk = 0
  # Memory bound, in bytes, of one chunk of (images x grid points) on one device: what the
  # compiled chunk program needs by its own memory report (arguments, outputs, temporaries),
  # or, where the backend gives no report, the grid engine's estimate
  # (evaluate.grid.bytes_per_grid_image: every intermediate value, no buffer reuse, far
  # above the real need). A grid larger than the bound is split into chunks of grid
  # points: e.g. the 1024 circular shifts of one image run in chunks of fewer shifts. Only a
  # bound too small for one model input per device (by the estimate) is an error, raised
  # before any work. The host keeps per-image values, not the (images x grid points x
  # classes) probabilities (evaluate.grid_summary).
  config.max_chunk_bytes = 2 * 1024**3
  # Compute dtype of the evaluated model: 'float32' (a run trained with model.dtype=bfloat16
  # is evaluated in float32: its params and BatchNorm statistics are float32, and "invariant
  # up to float rounding" is then judged at float32 rounding), 'bfloat16', or 'model' (the
  # run's config.model.dtype).
  config.dtype = "float32"
  # Run this evaluation at the end of train.py (writes workdir/eval/ like `python -m evaluate`).
  config.run_after_training = False
  # Plots: how many images get a "jagged" curve of the correct class's probability versus
  # shift (chosen as those whose probability varies most along the path).
  config.num_jagged_images = 4
  # Plots: at most this many embedding sizes get a heat map (evenly spread over the sweep).
  config.max_heatmap_sizes = 4
  # name -> dict(type=<protocol>, **options[, num_images=K]). See evaluate/protocols.py for
  # every option, and the module docstring for num_images (a subset of K images).
  # (ConfigDict keeps its keys sorted: protocols run and are reported in name order.)
  config.protocols = ml_collections.ConfigDict(default_protocols())
  return config


def _as_dict(config: Mapping[str, Any] | ml_collections.ConfigDict) -> dict[str, Any]:
  if isinstance(config, ml_collections.FrozenConfigDict):
    config = config.as_configdict()
  if isinstance(config, ml_collections.ConfigDict):
    return config.to_dict()
  return {key: (_as_dict(value) if isinstance(value, (Mapping, ml_collections.ConfigDict))
                else value) for key, value in dict(config).items()}


def complete_eval_config(given: Mapping[str, Any] | ml_collections.ConfigDict | None
                         ) -> ml_collections.ConfigDict:
  """Returns a new ConfigDict: `default_eval_config()` overridden by `given`.

  `given.protocols`, if present, replaces the default protocols as a whole (so that a
  config can drop protocols); every other field overrides one default.

  Raises:
    ValueError: a field the defaults do not know (likely a typo), a protocol entry that is
      not a dict with a 'type', or an invalid num_images (of the evaluation or of a
      protocol) / image_selection.
  """
  config = default_eval_config()
  given = _as_dict(given) if given is not None else {}
  unknown = sorted(set(given) - set(config.keys()))
  if unknown:
    raise ConfigError(f"Unknown config.eval field(s): {', '.join(unknown)}. Known fields: "
                      f"{', '.join(sorted(config.keys()))}")
  for key, value in given.items():
    if key == "protocols":
      config.protocols = ml_collections.ConfigDict(_as_dict(value))
    else:
      config[key] = value
  for name, entry in config.protocols.items():
    if not isinstance(entry, ml_collections.ConfigDict) or "type" not in entry:
      raise ConfigError(f"config.eval.protocols.{name} must be a dict with a 'type' (a protocol "
                        f"name) and that protocol's options, got {entry!r}")
  if not config.protocols:
    raise ConfigError("config.eval.protocols is empty: nothing to evaluate.")
  for name, entry in config.protocols.items():
    protocol_num_images(entry, int(config.num_images), name=name)
  if config.image_selection not in IMAGE_SELECTIONS:
    raise ConfigError(f"config.eval.image_selection must be one of {IMAGE_SELECTIONS}, got "
                      f"{config.image_selection!r}")
  for name in ("num_images", "images_per_chunk", "num_jagged_images", "max_heatmap_sizes"):
    if int(config[name]) < 0:
      raise ConfigError(f"config.eval.{name} must be >= 0, got {config[name]}")
  from models.layers import DTYPES  # pylint: disable=g-import-not-at-top
  if config.dtype != RUN_DTYPE and config.dtype not in DTYPES:
    raise ConfigError(f"config.eval.dtype must be {RUN_DTYPE!r} or one of "
                      f"{', '.join(DTYPES.names())}, got {config.dtype!r}")
  if int(config.max_chunk_bytes) <= 0:
    raise ConfigError(f"config.eval.max_chunk_bytes must be > 0, got {config.max_chunk_bytes}")
  return config


def evaluated_model_options(model_config: Mapping[str, Any], eval_config) -> dict[str, Any]:
  """The model options an evaluation builds: the run's `config.model` with the compute dtype
  of `config.eval.dtype` (unchanged for 'model')."""
  options = _as_dict(model_config)
  if eval_config.get("dtype", RUN_DTYPE) != RUN_DTYPE:
    options["dtype"] = eval_config.dtype
  return options


def protocol_num_images(entry: Mapping[str, Any] | ml_collections.ConfigDict,
                        eval_num_images: int, *, name: str = "?") -> Optional[int]:
  """The `num_images` of a protocol entry (None: every image of the evaluation), checked.

  Args:
    entry: a config.eval.protocols entry.
    eval_num_images: config.eval.num_images (0 = the whole test set: no upper bound here;
      a K above the images the test set holds then means all of them, with a note).
    name: the protocol's name, for the message.
  Raises:
    ValueError: not an integer, below 1, or above config.eval.num_images.
  """
  if "num_images" not in entry or entry["num_images"] is None:
    return None
  value = entry["num_images"]
  bound = (f"config.eval.num_images = {eval_num_images}" if eval_num_images > 0
           else "the test set")
  rule = (f"config.eval.protocols.{name}.num_images must be an integer from 1 to {bound} (the "
          f"protocol runs on that many of the evaluation's images; leave it out for all)")
  if isinstance(value, bool) or not isinstance(value, numbers.Integral):
    raise ConfigError(f"{rule}, got {value!r}")
  if value < 1 or (eval_num_images > 0 and value > eval_num_images):
    raise ConfigError(f"{rule}, got {value}")
  return int(value)


def factory_options(entry: Mapping[str, Any] | ml_collections.ConfigDict) -> dict[str, Any]:
  """A protocol entry without PROTOCOL_EVALUATION_OPTIONS: dict(type=..., **its options), what
  evaluate.protocols.build_protocol_from_config takes."""
  entry = _as_dict(entry)
  return {key: value for key, value in entry.items()
          if key not in PROTOCOL_EVALUATION_OPTIONS}


def resolve_eval_config(run_config: ml_collections.ConfigDict,
                        eval_config: Optional[Mapping[str, Any]] = None
                        ) -> ml_collections.ConfigDict:
  """`eval_config` if given, else the run's `config.eval`, else the defaults; completed.

  `eval_config` may also be a whole run config (one with an `eval` section), e.g. from
  configs/default.py.
  """
  if eval_config is not None and "eval" in eval_config and "protocols" not in eval_config:
    eval_config = eval_config["eval"]
  if eval_config is None and "eval" in run_config:
    eval_config = run_config.eval
  return complete_eval_config(eval_config)


def build_protocols(protocol_configs: Mapping[str, Any]) -> dict[str, Any]:
  """Builds every protocol of `config.eval.protocols` (name -> dict(type=..., **options));
  the evaluation options of an entry (PROTOCOL_EVALUATION_OPTIONS, e.g. num_images) are not
  the protocol's and are left out.

  Raises:
    UnknownNameError (a ValueError listing the valid names) for an unknown type, or a
    ValueError naming the protocol and the bad option.
  """
  from evaluate import protocols  # pylint: disable=g-import-not-at-top
  built = {}
  for name, entry in protocol_configs.items():
    entry = factory_options(entry)
    try:
      built[name] = protocols.build_protocol_from_config(entry)
    except (TypeError, ValueError) as error:
      raise type(error)(f"config.eval.protocols.{name}: {error}") from error
  return built


def check_eval_config(eval_config: Optional[Mapping[str, Any]]) -> ml_collections.ConfigDict:
  """Completes `eval_config` and builds every protocol, raising what evaluate_workdir would.

  For train.py to call before training when config.eval.run_after_training is set, so that
  a typo in the evaluation settings fails before hours of training, not after.
  Returns:
    The completed eval config.
  """
  completed = complete_eval_config(eval_config)
  build_protocols(completed.protocols)
  return completed


def get_config() -> ml_collections.ConfigDict:
  """For `python -m evaluate --config evaluate/config.py` (copy this file to write your own)."""
  return default_eval_config()

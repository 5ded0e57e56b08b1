"""The model registry and the name + options -> Flax module builder.

Each entry of `MODELS` is a factory taking keyword-only options with defaults and returning
a `flax.linen.Module`. The factory's signature is the model's list of valid options.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import flax.linen as nn
import jax
import numpy as np

from common.errors import ConfigError
from common.registry import Registry
from models.downsample import Downsampler, build_downsampler
from models.layers import DTYPES
from models.nonlinearity import NONLINEARITIES

ModelFactory = Callable[..., nn.Module]

MODELS: Registry[ModelFactory] = Registry("model")


def model_options(name: str) -> dict[str, Any]:
  """The options model `name` accepts, mapped to their defaults (UnknownNameError if unknown)."""
  factory = MODELS.get(name)
  return {option: parameter.default
          for option, parameter in inspect.signature(factory).parameters.items()}


def build_model(name: str, **options: Any) -> nn.Module:
  """Builds the model registered as `name` with keyword `options`.

  Call convention of the result:
    variables = model.init(rng, x, train=False)
    logits = model.apply(variables, x, train=False)
    logits, updates = model.apply(variables, x, train=True, mutable=['batch_stats'])
    # models with uses_temperature(model) (downsample='lps') also take, in training,
    # temperature=t (Gumbel-softmax temperature) and rngs={'lps': key}.
  x: (N, 32, 32, 3) float32 normalised images; logits: (N, num_classes) float32.

  Raises:
    UnknownNameError: `name` is not registered (the message lists valid names).
    ValueError: an option is not accepted by this model (the message lists valid options),
      or an option value is invalid.
  """
  valid = model_options(name)
  unknown = sorted(set(options) - set(valid))
  if unknown:
    raise ConfigError(
        f"Unknown option(s) {', '.join(map(repr, unknown))} for model {name!r}. "
        f"Valid options: {', '.join(valid)}")
  return MODELS.get(name)(**options)


# Options added after runs were first saved, mapped to the value that reproduces what a run
# saved without the option did: saved_model -> value. (Before `blur_padding` existed, the blur
# was padded like the model's convolutions.) Factory defaults may differ from these values.
LEGACY_OPTION_VALUES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "blur_padding": lambda saved: saved.get("padding", "zeros"),
}


def complete_saved_options(saved_model: dict[str, Any]) -> dict[str, Any]:
  """A saved `config.model` section with every option it predates filled in.

  Options in LEGACY_OPTION_VALUES get the value that reproduces the saved run's behaviour;
  any other option the model accepts but the section lacks gets the factory default (new
  options are added with defaults that leave existing models unchanged). Unknown model names
  are returned unchanged (building the model reports them).
  """
  completed = dict(saved_model)
  name = completed.get("name")
  if name not in MODELS:
    return completed
  for option, default in model_options(name).items():
    if option not in completed:
      legacy = LEGACY_OPTION_VALUES.get(option)
      completed[option] = legacy(saved_model) if legacy else default
  return completed


# The alias-free convnet of Michaeli, Michaeli & Soudry (CVPR 2023) in this zoo (models/afc.py):
# circular padding, ideal low-pass subsampling with pooling layers replaced by it, and the
# trainable polynomial on the x2 grid; plus, for models with residual blocks, the two block
# options that make a polynomial ResNet trainable (models/resnet.py).
AFC_OPTIONS = dict(padding="circular", downsample="ideal_pool", nonlinearity="afc_poly")
AFC_RESIDUAL_OPTIONS = dict(activation_after_sum=False, zero_init_residual=True)


def afc_options(name: str) -> dict[str, Any]:
  """The options that make model `name` the alias-free convnet: AFC_OPTIONS, plus those of
  AFC_RESIDUAL_OPTIONS that the model has (the ResNets; AlexNet has no residual blocks).
  build_model(name, **afc_options(name), width=...) builds it; UnknownNameError if unknown."""
  valid = model_options(name)
  return {**AFC_OPTIONS, **{option: value for option, value in AFC_RESIDUAL_OPTIONS.items()
                            if option in valid}}


def uses_temperature(model: nn.Module) -> bool:
  """Whether training calls of `model` need `temperature=` and rngs={'lps': key} (LPS)."""
  return bool(getattr(getattr(model, "downsampler", None), "uses_temperature", False))


def count_params(params: Any) -> int:
  """Total number of scalars in a pytree of arrays (e.g. variables['params'])."""
  return int(sum(np.prod(np.shape(leaf), dtype=np.int64)
                 for leaf in jax.tree_util.tree_leaves(params)))


def common_parts(*, downsample: str, blur_size: int, padding: str, dtype: str,
                 num_classes: int, width: int, blur_padding: str = "auto",
                 aps_norm: str = "l2", nonlinearity: str = "relu",
                 lps_hidden_divisor: int = 4) -> Downsampler:
  """Validates the options every model shares and returns the downsampling strategy.

  blur_padding: padding of the BlurPool blur, 'auto' | 'reflect' | 'zeros' | 'circular'
  (models/padding.py; 'auto' = circular in circular-padded models, else reflect).

  Raises UnknownNameError / ValueError for unknown names or invalid values.
  """
  NONLINEARITIES.get(nonlinearity)
  DTYPES.get(dtype)
  for option, value in (("num_classes", num_classes), ("width", width)):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
      raise ConfigError(f"{option} must be a positive integer, got {value!r}")
  return build_downsampler(downsample, blur_size=blur_size, padding=padding,
                           blur_padding=blur_padding, aps_norm=aps_norm,
                           lps_hidden_divisor=lps_hidden_divisor)

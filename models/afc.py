"""The trainable polynomial activation of alias-free convnets (Michaeli, Michaeli & Soudry,
"Alias-free convnets: fractional shift invariance via polynomial activations", CVPR 2023).

  AFCPolyActivation  per channel c, on an NHWC map x (N, H, W, C):
      y = out_scale * (constant[c] + linear[c] * u + quadratic[c] * u**2),  u = in_scale * x,
      evaluated on the x2 band-limited upsampling of x (after dropping its Nyquist row and
      column) and ideally low-passed back to H x W (models.alias_free.on_doubled_grid).
      constant, linear, quadratic: trainable (C,) vectors, initialised at AFC_POLY_INIT;
      in_scale, out_scale: trainable scalars, initialised at 1.

Why nothing aliases. The activation's input u holds only frequencies |k| < H/2 (the Nyquist
bin is dropped first), so u**2 holds only |k| < H, which the 2H x 2W grid represents without
folding: the pointwise polynomial on that grid gives exactly the samples of the polynomial of
the continuous band-limited signal, and the ideal low-pass back keeps |k| < H/2. So the
activation commutes with every Fourier shift of its input, integer or fractional, and its
output depends only on what such a shift moves exactly (the Nyquist content of a raw image
has no fractional shift: common.fourier). With circular convolutions, ideal downsampling
(models.alias_free.IdealDownsampler) and global average pooling, a network is invariant up
to float rounding to integer and fractional circular shifts of raw images. The low-pass of
the first activation is the network's input low-pass: everything before it (the stem conv
and its norm) is linear and shift-equivariant, so dropping the Nyquist content there is the
same as dropping it from the input (their reference network low-passes in its stem too).

Why the normalisation does not alias. BatchNorm normalises each channel by statistics shared
by every pixel (running ones in evaluation, batch ones in training): per channel it is an
affine map y = s_c x + t_c, which creates no new frequency (t_c is DC). Its batch statistics
do not move under integer shifts, nor under Fourier shifts of maps without Nyquist content
(the mean is the DC coefficient, the variance the spectral energy: Parseval). A per-pixel LayerNorm (over channels at each pixel,
as in ConvNeXt) would divide every pixel by its own standard deviation, a spatially varying
nonlinear function of the map with unbounded bandwidth, and alias; their ConvNeXt replaces
it by a LayerNorm over C, H and W for this reason.

Why it can be trained (polynomial networks are fragile to scale: a degree-2 map squares any
growth, and stacked activations raise rare large values to ever higher powers). The
activation sits after a BatchNorm, so its input is near N(0, 1) at initialisation, where the
initial polynomial (AFC_POLY_INIT) has the ReLU's odd part; in_scale and out_scale start at 1
(the published ConvNeXt command starts them at 7, presumably for the small pre-activations of
its LayerNorm + small-init linear layers; after a BatchNorm that would square a 7x larger
input);
the coefficients and scales are 0- and 1-D, so the optimisers' weight decay (kernels only,
training/optim.py) leaves them alone. In a ResNet that is not enough: with He et al.'s block,
nonlinearity(branch + shortcut), the identity path composes one polynomial per block, and
with branches at full strength from the start, rare large values are squared block after
block. The ResNets therefore get activation_after_sum=False and zero_init_residual=True
(models/resnet.py, models.afc_options), like the LayerScale of near-zero initial residual
branches in their ConvNeXt; then resnet20 trains with the same recipe as the ReLU networks
(learning rate, schedule, no gradient clipping). experiments/afc_stability.py trains each
combination of the two options; the numbers are in docs/models.md.
"""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from models.alias_free import band_limit, on_doubled_grid

# (constant, linear, quadratic) at initialisation, every channel: the polynomial the
# reference implementation starts from, 0.0169 + 0.5 x + 0.3078 x**2 (the ReLU's odd part
# x / 2, and an even part 0.0169 + 0.3078 x**2 in place of its |x| / 2).
AFC_POLY_INIT = (0.0169, 0.5, 0.3078)
AFC_SCALE_INIT = 1.0  # in_scale and out_scale at initialisation


class AFCPolyActivation(nn.Module):
  """Per-channel degree-2 polynomial on the x2 grid; see the module docstring.

  (N, H, W, C) -> (N, H, W, C), the dtype of the input. Parameters (float32): constant,
  linear, quadratic (C,); in_scale, out_scale ().
  """
  init_coefficients: tuple[float, float, float] = AFC_POLY_INIT
  init_scale: float = AFC_SCALE_INIT

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    channels = x.shape[-1]
    constant, linear, quadratic = (
        self.param(name, nn.initializers.constant(value), (channels,), jnp.float32)
        for name, value in zip(("constant", "linear", "quadratic"), self.init_coefficients))
    in_scale = self.param("in_scale", nn.initializers.constant(self.init_scale), (),
                          jnp.float32)
    out_scale = self.param("out_scale", nn.initializers.constant(self.init_scale), (),
                           jnp.float32)

    # out_scale * (constant + linear u + quadratic u**2) with u = in_scale * x, term by term:
    # the low-pass of the x2 grid is linear and returns band-limited maps unchanged, so only
    # the square needs the x2 grid; the parameters multiply (C,) vectors and H x W maps.
    square = on_doubled_grid(jnp.square, x, drop_nyquist=True)
    y = (out_scale * constant + (out_scale * in_scale * linear) * band_limit(x)
         + (out_scale * in_scale**2 * quadratic) * square)
    return y.astype(x.dtype)

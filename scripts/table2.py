"""Prints the paper's Table 2 and its appendix-A.3 version (ideal low-pass), and draws them.

  python scripts/table2.py [--out runs/table2] [--bias 5] [--ideal_bias 0.8]

A 1-D delta and the same delta one sample earlier: blur (bin-5, or the ideal half-band
low-pass), subsample by 2, then a ReLU with a bias. The linear stages keep the two global sums
equal (shiftable); the ReLU does not. Writes OUT/table2.md and OUT/table2.png. See
evaluate/layers/toy1d.py for the definitions (and why the paper's "ReLU (bias=5)" is the
thresholded ReLU, x if x > 5 else 0).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=g-import-not-at-top
from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top

from evaluate.layers import toy1d  # pylint: disable=g-import-not-at-top

_OUT = flags.DEFINE_string("out", "runs/table2", "Directory for table2.md and table2.png.")
_BIAS = flags.DEFINE_float("bias", toy1d.TABLE2_BIAS, "Bias of the ReLU in Table 2.")
_IDEAL_BIAS = flags.DEFINE_float("ideal_bias", toy1d.IDEAL_BIAS,
                                 "Bias of the ReLU in the ideal low-pass case (A.3).")
_NONLINEARITIES = ("linear", "thresholded_relu", "relu")


def _stem(axis, x, rows, title):
  """Two signals as stems, offset by +-0.1 so both show; legend with the global sums."""
  row, sum1, sum2 = rows
  for offset, values, total, colour, name in ((-0.1, row.signal1, sum1, "tab:blue", "signal1"),
                                              (0.1, row.signal2, sum2, "tab:red", "signal2")):
    lines = axis.stem(np.asarray(x) + offset, values, linefmt=colour, markerfmt="o",
                      basefmt=" ", label=f"{name}: global sum {total:.4g}")
    lines.markerline.set_color(colour)
  axis.axhline(0, color="gray", lw=0.5)
  axis.set_title(title, fontsize=9)
  axis.legend(fontsize=7)


def draw(table2, ideal, path: str, bias: float, ideal_bias: float) -> str:
  """The figure: top Table 2 (bin-5), bottom appendix A.3 (ideal), stages left to right."""
  figure = Figure(figsize=(12, 6), dpi=110, layout="constrained")
  FigureCanvasAgg(figure)
  axes = figure.subplots(2, 3)
  by_stage = {row.stage: row for row in table2}
  relu_row = table2[-2]  # thresholded ReLU (the paper's row)
  for axis, row, title in ((axes[0, 0], by_stage["Blurred"], "bin-5 blur [1,4,6,4,1]"),
                           (axes[0, 1], by_stage["Sampled"], "subsampled by 2"),
                           (axes[0, 2], relu_row, f"ReLU, bias {bias:g} (paper's, thresholded)")):
    _stem(axis, np.arange(len(row.signal1)), (row, row.sum1, row.sum2), title)
  signals = toy1d.ideal_lowpass_signals()
  (blurred, sampled, _, ideal_relu, _) = ideal
  _stem(axes[1, 0], signals["k"], blurred, "ideal half-band low-pass (central part)")
  _stem(axes[1, 1], signals["m"], sampled, "subsampled by 2 (sums of the whole signals)")
  _stem(axes[1, 2], signals["m"], ideal_relu, f"ReLU, bias {ideal_bias:g} (thresholded)")
  figure.suptitle("Azulay & Weiss Table 2 (top) and appendix A.3 (bottom): blurring before "
                  "subsampling keeps the global sum; a ReLU with a bias does not.\n"
                  "Command: python scripts/table2.py", fontsize=10)
  figure.savefig(path, dpi=110)
  return path


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  table2 = toy1d.table2_rows(_NONLINEARITIES, bias=_BIAS.value)
  ideal = toy1d.ideal_lowpass_rows(_NONLINEARITIES, bias=_IDEAL_BIAS.value)
  text = ("## Table 2 (bin-5 blur, subsampling by 2)\n\n" + toy1d.format_table(table2) +
          "\n\n## Appendix A.3 (ideal low-pass; central parts, sums of the whole signals)\n\n" +
          toy1d.format_table(ideal, decimals=4) + "\n")
  print(text)
  os.makedirs(_OUT.value, exist_ok=True)
  with open(os.path.join(_OUT.value, "table2.md"), "w") as f:
    f.write(text)
  print("wrote", draw(table2, ideal, os.path.join(_OUT.value, "table2.png"), _BIAS.value,
                      _IDEAL_BIAS.value))


if __name__ == "__main__":
  app.run(main)

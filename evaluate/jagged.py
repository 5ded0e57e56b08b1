"""The "jagged" curves (paper figure 1): the probability of the correct class along a
one-dimensional path through a protocol's grid, for the images where it varies most."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

# Protocols whose jagged path is the row dy = 0 (the image rolled only horizontally).
_PATH_ALONG_DY_ZERO = ("circular_shift", "fractional_shift")


def jagged_path(grid: Mapping[str, np.ndarray], pairs: np.ndarray,
                protocol_type: str) -> tuple[np.ndarray, np.ndarray, str, str]:
  """The grid points of a one-dimensional path for the "jagged" curves.

  embed_scale: the first point of every pair (size s, x = s). Otherwise a horizontal line:
  the smallest embedding size (the longest line) if there are sizes, the middle row of dy
  (dy = 0 for _PATH_ALONG_DY_ZERO: unrolled rows), sorted by dx; a grid with fewer than 3
  points on that row uses all its points sorted by dx.

  Returns:
    (indices (K,) into the grid, x (K,) the x-axis values, the x-axis label, its symbol).
  """
  grid = {key: np.asarray(values) for key, values in grid.items()}
  if protocol_type == "embed_scale":
    first = pairs[:, 0]
    return first, grid["size"][first], "embedding size s (pixels)", "s"
  candidates = np.arange(grid["dx"].shape[0])
  label = "dx: horizontal shift (pixels)"
  if "size" in grid:
    size = grid["size"].min()
    candidates = candidates[grid["size"] == size]
    label += f", size {size}"
  rows = grid["dy"][candidates]
  row = (0 if protocol_type in _PATH_ALONG_DY_ZERO and np.any(rows == 0)
         else np.unique(rows)[len(np.unique(rows)) // 2])
  on_row = candidates[rows == row]
  if on_row.shape[0] >= 3:
    candidates = on_row
    label += f", dy = {row}"
  else:
    label = label.replace("horizontal", "diagonal")
  order = np.lexsort((grid["dy"][candidates], grid["dx"][candidates]))
  indices = candidates[order]
  return indices, grid["dx"][indices], label, "dx"


def jagged_curves(result, protocol, protocol_type: str, images: np.ndarray,
                  image_indices: np.ndarray, class_names: Sequence[str],
                  count: int, path_correct: np.ndarray | None = None
                  ) -> tuple[list[dict], str, str]:
  """Data for evaluate.plots.evaluation.plot_jagged_curves: the `count` images whose
  correct-class probability varies most along the jagged path, with the transformed images at
  its max and min.

  path_correct: (N, K) the correct class's probability at the path's columns
  (evaluate.grid_summary.GridSummary.path_correct, for a result evaluated without keeping
  its probabilities); None = read from result.probs.
  """
  path, x, x_label, x_symbol = jagged_path(result.grid, np.asarray(result.pairs),
                                           protocol_type)
  labels = np.asarray(result.labels)
  if path_correct is not None:
    correct = np.asarray(path_correct)
  else:
    correct = np.take_along_axis(np.asarray(result.probs)[:, path, :],
                                 labels[:, None, None], axis=2)[..., 0]  # (N, K)
  swing = correct.max(axis=1) - correct.min(axis=1)
  curves = []
  for row in np.argsort(-swing, kind="stable")[:count]:
    frames = []
    for position in (int(np.argmax(correct[row])), int(np.argmin(correct[row]))):
      point = {key: np.asarray(values)[path[position]] for key, values in result.grid.items()}
      frame = protocol.transform(images[row].astype(np.float32), point)
      frames.append((float(x[position]),
                     np.clip(np.round(np.asarray(frame)), 0, 255).astype(np.uint8)))
    curves.append({
        "name": f"test image {int(image_indices[row])}, true class: "
                f"{class_names[labels[row]]}",
        "x": x, "prob": correct[row], "frames": frames})
  return curves, x_label, x_symbol

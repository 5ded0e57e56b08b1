"""Fake evaluations for tests of what reads them (paired comparisons, sweep collection): an
eval/per_image.npz with chosen per-image values and the eval.json they summarise to."""
import json
import os

import numpy as np

from evaluate import metrics
from evaluate.stats import per_image
from evaluate.json_values import json_metric

OPTIONS = {"sizes": [24, 28], "fill": "black"}


def write_evaluation(directory, values, *, image_indices=None, labels=None, options=None,
                     clean_correct=None, protocol="embed", rows=None, test_set_correct=None):
  """Writes directory/eval/{per_image.npz, eval.json} of a fake evaluation.

  values: metric -> (N_p, K) per-image values of `protocol` (an embed_shift with len(K)
  sizes); metrics not given are copies of the first one. rows: the rows of the N evaluated
  images the protocol ran on (a protocol with num_images; then image_indices gives N), or
  None for all (N = N_p). test_set_correct: (T,) per-image correctness on the whole test set,
  or None to write none (as evaluations before it).
  """
  first = next(iter(values.values()))
  protocol_count, num_groups = first.shape
  count = protocol_count if image_indices is None else len(image_indices)
  rows = np.arange(count) if rows is None else np.asarray(rows)
  assert len(rows) == protocol_count
  options = dict(OPTIONS if options is None else options)
  arrays = {metric: np.asarray(values.get(metric, first), np.float64)
            for metric in per_image.MEAN_METRICS}
  arrays["max_logit_change"] = np.full((protocol_count, num_groups), 0.5)
  groups = np.asarray(options.get("sizes", [0] * num_groups)[:num_groups], np.int64)
  image_indices = np.arange(count) if image_indices is None else np.asarray(image_indices)
  labels = image_indices % 10 if labels is None else np.asarray(labels)
  clean_correct = np.ones(count) if clean_correct is None else np.asarray(clean_correct)
  eval_dir = os.path.join(directory, "eval")
  os.makedirs(eval_dir, exist_ok=True)
  per_image.save(os.path.join(eval_dir, per_image.PER_IMAGE_FILE), image_indices=image_indices,
                 labels=labels, clean_correct=clean_correct,
                 protocols={protocol: per_image.ProtocolValues(
                     "embed_shift", options, False, per_image.PerImage(groups, arrays),
                     rows=rows)}, test_set_correct=test_set_correct)
  entry = {"type": "embed_shift", "options": options, "sampled": False,
           "num_grid_points": 10, "num_pairs": 5, "by_group": None, "max_logit_change": 0.5,
           "num_images": protocol_count,
           "image_indices": [int(i) for i in image_indices[rows]],
           "metrics": {m: json_metric(per_image.pooled_stat(arrays[m]))
                       for m in per_image.MEAN_METRICS}}
  report = {"workdir": str(directory), "checkpoint_step": 1, "model": {"name": "synthetic"},
            "num_images": count, "clean_accuracy": json_metric(metrics.stat(
                clean_correct)), "protocols": {protocol: entry}}
  with open(os.path.join(eval_dir, "eval.json"), "w") as f:
    json.dump(report, f)
  return str(directory)

"""The variables of a model as `model.apply` takes them."""
from __future__ import annotations


def model_variables(params, batch_stats) -> dict:
  """The variables dict that `model.apply` takes: params, plus batch_stats if there are any."""
  if batch_stats:
    return {"params": params, "batch_stats": batch_stats}
  return {"params": params}

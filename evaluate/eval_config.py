"""The eval config of an evaluation: chosen (given, or the run's, or the defaults), completed,
and checked by building every protocol it names. (The fields and their defaults are in
evaluate/config.py, a config file.)"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import ml_collections

from evaluate import protocols
from evaluate.config import complete_eval_config, factory_options


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
  the evaluation options of an entry (evaluate.config.PROTOCOL_EVALUATION_OPTIONS, e.g.
  num_images) are not the protocol's and are left out.

  Raises:
    UnknownNameError (a ValueError listing the valid names) for an unknown type, or a
    ValueError naming the protocol and the bad option.
  """
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

"""The check that training has not diverged: a NaN or infinite loss or gradient stops the run
before the bad state is saved or reported."""
from __future__ import annotations

from typing import Optional

from common.errors import UserError

from training.state import TrainState


class TrainingDivergedError(UserError, RuntimeError):
  """The loss or the gradients became NaN or infinite."""


def check_state_finite(state: TrainState, last_saved: Optional[int]) -> None:
  """Raises TrainingDivergedError if a train step up to `state` saw a NaN/inf.

  Args:
    state: the train state; its `bad_step` is the first step (0-based) with a non-finite loss
      or gradient, or -1 (reading it syncs with the device).
    last_saved: the step of the last checkpoint written, or None; named in the message.
  """
  bad_step = int(state.bad_step)
  if bad_step >= 0:
    saved = (f"the last checkpoint (step {last_saved}) is intact" if last_saved is not None
             else "no checkpoint was written")
    raise TrainingDivergedError(
        f"Training diverged: the loss or gradients became NaN/inf at step {bad_step}. The run "
        f"stopped without saving the bad state; {saved}. Try a lower config.train.learning_rate, "
        "a longer warm-up, or label smoothing.")

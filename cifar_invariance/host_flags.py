"""The flags with which every command joins the processes of a multi-host run, and `run(body)`.

  --multihost                      join the other processes (jax.distributed.initialize());
                                   on Cloud TPU, SLURM, Open MPI, Kubernetes JAX finds them
  --coordinator_address=HOST:PORT  process 0's address and a free port (plain machines)
  --num_processes=N                the number of processes
  --process_id=I                   this process's index, 0 .. N-1

The last three may also come from $JAX_COORDINATOR_ADDRESS, $JAX_NUM_PROCESSES and
$JAX_PROCESS_ID (with --multihost); giving any of them as a flag implies --multihost.
train.py, sweep.py, evaluate/__main__.py and evaluate/layers/__main__.py import this module
(which defines the flags, like every command module defines its own) and adopt its flags as
key flags, so that `--help` lists them; their main() hands its work to `run(body)`
(runtime.hosts.run_command: joining, and failures that stop every process).

Imports only absl at module level: the commands import it before the project's packages are
checked (cifar_invariance.startup).
"""
from __future__ import annotations

from typing import Callable, TypeVar

from absl import flags

T = TypeVar("T")

MULTIHOST = flags.DEFINE_bool(
    "multihost", False, "Run as one of several processes (hosts) of one run: joins them with "
    "jax.distributed.initialize(), which detects Cloud TPU, SLURM, Open MPI and Kubernetes by "
    "itself; elsewhere give --coordinator_address, --num_processes and --process_id. "
    "Process 0 writes every file; an error on any process stops all of them.")
COORDINATOR_ADDRESS = flags.DEFINE_string(
    "coordinator_address", None, "With several processes: HOST:PORT of process 0 and a free "
    "port there (default $JAX_COORDINATOR_ADDRESS, else auto-detected). Implies --multihost.")
NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes", None, "With several processes: how many (default $JAX_NUM_PROCESSES, "
    "else auto-detected). Implies --multihost.")
PROCESS_ID = flags.DEFINE_integer(
    "process_id", None, "With several processes: this one's index, 0 .. num_processes-1 "
    "(default $JAX_PROCESS_ID, else auto-detected). Implies --multihost.")


def run(body: Callable[[], T]) -> T:
  """Runs a command's `body` as runtime.hosts.run_command does, with the settings of the flags
  above (completed from the environment). A bad setting exits with its message (status 2)."""
  import sys  # pylint: disable=g-import-not-at-top
  from runtime import hosts  # pylint: disable=g-import-not-at-top
  try:
    settings = hosts.HostSettings.resolve(MULTIHOST.value, COORDINATOR_ADDRESS.value,
                                          NUM_PROCESSES.value, PROCESS_ID.value)
    return hosts.run_command(settings, body)
  except hosts.HostSetupError as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)

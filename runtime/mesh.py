"""The device mesh: the batch is sharded over every device of every host, the state replicated."""
from __future__ import annotations

import dataclasses

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from common.errors import ConfigError

DATA_AXIS = "data"


@dataclasses.dataclass(frozen=True)
class MeshShardings:
  """The mesh and the two shardings the training loop uses.

  Attributes:
    mesh: a 1-D mesh named 'data' over all devices (all hosts).
    batch: leading (batch) axis split over 'data'.
    replicated: a full copy on every device (model state, the on-device datasets).
  """
  mesh: Mesh
  batch: NamedSharding
  replicated: NamedSharding

  @property
  def num_devices(self) -> int:
    return self.mesh.size


def make_data_parallel_mesh(devices=None) -> MeshShardings:
  """A data-parallel mesh over `devices` (default `jax.devices()`: global, so it spans every
  host); e.g. `jax.devices()[:1]` for a one-device mesh in a multi-device process."""
  devices = list(devices) if devices is not None else jax.devices()
  mesh = jax.make_mesh((len(devices),), (DATA_AXIS,), axis_types=(AxisType.Auto,),
                       devices=devices)
  return MeshShardings(
      mesh=mesh,
      batch=NamedSharding(mesh, PartitionSpec(DATA_AXIS)),
      replicated=NamedSharding(mesh, PartitionSpec()),
  )


def check_divisible(batch_size: int, num_devices: int, what: str) -> None:
  """A batch that does not split evenly over the devices is a configuration error."""
  if batch_size % num_devices:
    raise ConfigError(
        f"{what}={batch_size} does not divide over the {num_devices} devices: choose a "
        f"multiple of {num_devices}.")


def put_replicated(array: np.ndarray, sharding: NamedSharding) -> jax.Array:
  """Copies a host array (identical on every host) to every device of `sharding`'s mesh."""
  return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])

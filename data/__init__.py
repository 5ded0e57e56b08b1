"""CIFAR-10 loading: `load_cifar10(data_config) -> CifarArrays` from a registry of sources.

Sources (data.SOURCES): 'auto' (default), 'folder', 'cifar_python', 'tfds', 'synthetic'.
Importing this package registers them; it imports neither TensorFlow, tensorflow_datasets nor JAX.
"""
# Importing the source modules registers them in SOURCES.
from data import auto_source as _auto_source  # noqa: F401
from data import cifar_python as _cifar_python  # noqa: F401
from data import image_folder as _image_folder  # noqa: F401
from data import synthetic as _synthetic  # noqa: F401
from data import tfds_source as _tfds_source  # noqa: F401
from data.arrays import CifarArrays
from data.config import default_data_config
from data.errors import DataError
from data.loading import load_cifar10
from data.source_registry import SOURCES

__all__ = ["CifarArrays", "DataError", "SOURCES", "default_data_config", "load_cifar10"]

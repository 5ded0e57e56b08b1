"""The registry of data sources: each entry maps a `data_config` to a `CifarArrays`."""
from common.registry import Registry

# name -> function(data_config: ml_collections.ConfigDict) -> data.arrays.CifarArrays
SOURCES = Registry("data source")

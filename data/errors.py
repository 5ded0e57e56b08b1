"""The one exception every data source raises for bad or missing data."""


class DataError(Exception):
  """The data cannot be loaded; the message names the offending file or directory and what to do."""

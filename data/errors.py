"""The one exception every data source raises for bad or missing data."""
from common.errors import UserError


class DataError(UserError):
  """The data cannot be loaded; the message names the offending file or directory and what to do."""

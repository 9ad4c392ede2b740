"""recdo: what would happen if we changed the recommender, from its own logs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("recdo")
except PackageNotFoundError:  # a checkout that was never installed
    __version__ = "0.0.0+unknown"

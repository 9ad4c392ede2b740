"""recdo: what would happen if we changed the recommender, from its own logs."""

__version__ = "0.1.0"

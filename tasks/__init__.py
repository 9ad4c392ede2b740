"""recdo tasks package."""

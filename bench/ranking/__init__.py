"""bench/ranking."""

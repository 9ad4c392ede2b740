"""Small helpers every layer shares: file hashes, atomic writes, JSON-safe values, checks, percentiles."""

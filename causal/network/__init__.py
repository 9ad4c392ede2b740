"""causal/network."""

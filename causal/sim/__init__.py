"""causal/sim."""

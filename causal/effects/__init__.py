"""causal/effects."""

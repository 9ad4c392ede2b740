"""Decisions from stored bootstrap replicates: P(best), expected loss, the segment policy and its allocation."""

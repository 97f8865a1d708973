"""In-job evolutionary search with nevergrad: each generation is one kernel call."""

"""perplab's nevergrad sweeper for Hydra (``hydra/sweeper=nevergrad``): every candidate is a Hydra
job (an MLflow run) and its return value, the job's objective, is told back to nevergrad."""

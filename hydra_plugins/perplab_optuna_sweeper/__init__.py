"""perplab's Optuna sweeper for Hydra (``hydra/sweeper=optuna``): every trial is a Hydra job (an
MLflow run of the runner), its return value is told back to the study, failures as failed trials.
The configuration surface is the published hydra-optuna-sweeper's (whose release pins optuna < 3)."""

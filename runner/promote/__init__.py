"""Promotion of tracked runs through the MLflow model registry (``python -m runner.promote``)."""

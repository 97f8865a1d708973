"""perplab runner: Hydra app, validation, data, strategy compilation, tracking."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

"""Hydra's basic sweeper (``hydra/sweeper=perplab_basic``, perplab's default) with each distinct set
of config-group choices composed once for all the jobs that share it (``runner.compose``)."""

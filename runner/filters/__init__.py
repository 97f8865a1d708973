"""Overfitting defenses (the ``filters`` config group) and the statistics behind them.

Every defense reads the per-block statistics of the one kernel call that simulates the grid
(``kernels.simulate``): the bars are partitioned at every boundary any defense needs (walk-forward
windows, purged folds, CSCV blocks), and any union of blocks yields exact window metrics.
"""

"""The one program assembler: condition tables from rows, warm-up bars, stop fractions; a table of
hand-built programs."""

import numpy as np
import pytest

from kernels import enums as E
from runner.strategy.assemble import ProgramBuilder, Side, stop_fraction, warm_bars

N = 2  # combinations


def const(*v: float) -> np.ndarray:
    return np.array(v, dtype=np.float64)


def cols(*v: int) -> np.ndarray:
    return np.array(v, dtype=np.int64)


def test_rows_clauses_and_groups_become_the_kernel_tables():
    b = ProgramBuilder(N)
    # long entry: (col0 - 30 > 0 or 2*col1 in [10, 20]) and col0 crosses above col1
    b.row(E.OP_GT, Side([(cols(0, 0), const(1, 1))], const(-30, -40)))
    b.row(
        E.OP_BETWEEN,
        Side([(cols(1, 1), const(2, 2))], const(-10, -10)),
        Side([(cols(1, 1), const(-2, -2))], const(20, 20)),
    )
    b.end_clause()
    b.row(E.OP_CROSS_ABOVE, Side([(cols(0, 0), const(1, 1)), (cols(1, 1), const(-1, -1))], const(0, 0)))
    b.end_clause()
    b.end_group()
    b.end_group()  # long exit: never
    b.row(E.OP_LT, Side([(cols(0, 1), const(1, 0.5))], const(-70, -60)))  # short entry
    b.end_clause()
    b.end_group()
    b.end_group()  # short exit: never
    t = b.tables()
    assert t["cond_op"].tolist() == [E.OP_GT, E.OP_BETWEEN, E.OP_CROSS_ABOVE, E.OP_LT]
    assert t["clause_start"].tolist() == [0, 2, 3, 4]
    assert t["group_start"].tolist() == [0, 2, 2, 3, 3]
    # sides: row0 (1 term, 0), row1 (1, 1), row2 (2, 0), row3 (1, 0)
    assert t["side_start"].tolist() == [0, 1, 1, 2, 3, 5, 5, 6, 6]
    assert t["term_col"].tolist() == [[0, 1, 1, 0, 1, 0], [0, 1, 1, 0, 1, 1]]
    assert t["term_coef"].tolist() == [[1, 2, -2, 1, -1, 1], [1, 2, -2, 1, -1, 0.5]]
    assert t["side_add"].tolist() == [[-30, 0, -10, 20, 0, 0, -70, 0], [-40, 0, -10, 20, 0, 0, -60, 0]]
    assert t["term_col"].dtype == np.int64 and t["term_coef"].flags.c_contiguous


def test_an_unfinished_program_is_refused():
    b = ProgramBuilder(N)
    b.end_group()
    with pytest.raises(ValueError, match="1 groups ended; a program has 4"):
        b.tables()


def test_an_empty_program_has_empty_tables():
    b = ProgramBuilder(N)
    for _ in range(E.N_GROUPS):
        b.end_group()
    t = b.tables()
    assert t["term_col"].shape == (N, 0) and t["side_add"].shape == (N, 0)
    assert t["group_start"].tolist() == [0, 0, 0, 0, 0]


@pytest.mark.parametrize(
    ("term_col", "stop_col", "expected"),
    [
        ([[0], [1]], [[-1] * 4, [-1] * 4], [[2, 0], [0, 3]]),  # each reads one series
        ([[0, 1], [2, 2]], [[-1] * 4, [-1] * 4], [[2, 3], [0, 0]]),  # the latest of both; an all-defined one
        ([[2], [2]], [[1, -1, -1, -1], [-1, -1, -1, 0]], [[0, 3], [2, 0]]),  # stops' ATR and vol sizing count
        ([[], []], [[-1] * 4, [-1] * 4], [[0, 0], [0, 0]]),  # reads nothing: no warm-up
    ],
)
def test_warm_up_is_the_first_bar_with_every_series_read(term_col, stop_col, expected):
    ind = np.ones((3, 6, 2))  # (columns, bars, assets)
    ind[0, :2, 0] = np.nan  # column 0 starts at bar 2 on asset 0
    ind[1, :3, 1] = np.nan  # column 1 starts at bar 3 on asset 1
    tc = np.array(term_col, dtype=np.int64).reshape(2, -1)
    assert warm_bars(ind, tc, np.array(stop_col, dtype=np.int64)).tolist() == expected


def test_a_series_never_defined_keeps_its_asset_out_for_good():
    ind = np.full((1, 5, 1), np.nan)
    assert warm_bars(ind, np.zeros((1, 1), np.int64), np.full((1, 4), -1)).tolist() == [[5]]


def test_stop_percents_become_fractions_and_zero_turns_a_stop_off():
    out = stop_fraction(np.array([3.0, 0.5, 0.0, -1.0, np.nan]))
    assert out[:2].tolist() == [0.03, 0.005]
    assert np.isnan(out[2:]).all()

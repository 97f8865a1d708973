"""Small integer constants shared by kernels and wrappers (declared once, like vectorbt's enums)."""

import numpy as np

# Position sides
FLAT = 0
LONG = 1
SHORT = -1

# Allowed trade directions
DIR_LONG = 0
DIR_SHORT = 1
DIR_BOTH = 2
DIRECTIONS = ("long", "short", "both")

# Exit reasons recorded on every trade
EXIT_SIGNAL = 0
EXIT_STOP_LOSS = 1
EXIT_TAKE_PROFIT = 2
EXIT_TRAILING_STOP = 3
EXIT_LIQUIDATION = 4
EXIT_END_OF_DATA = 5
EXIT_RISK_HALT = 6
EXIT_REASONS = (
    "signal",
    "stop_loss",
    "take_profit",
    "trailing_stop",
    "liquidation",
    "end_of_data",
    "risk_halt",
)
# The reasons one kernel passes to another, as int64: numba types a bare int constant as a Literal
# and compiles the callee once per value (close_position was compiled six times, market_exit four)
REASON_SIGNAL = np.int64(EXIT_SIGNAL)
REASON_TAKE_PROFIT = np.int64(EXIT_TAKE_PROFIT)
REASON_LIQUIDATION = np.int64(EXIT_LIQUIDATION)
REASON_END_OF_DATA = np.int64(EXIT_END_OF_DATA)
REASON_RISK_HALT = np.int64(EXIT_RISK_HALT)

# When a signal computed on bar t's close is filled
FILL_NEXT_OPEN = 0
FILL_CLOSE = 1
FILL_AT = ("next_open", "close")

# Condition groups (all conditions of a group must hold; an empty group never fires)
G_LONG_ENTRY = 0
G_LONG_EXIT = 1
G_SHORT_ENTRY = 2
G_SHORT_EXIT = 3
N_GROUPS = 4

# Comparison operators. A condition row compares ``d = lhs - rhs`` with zero (crossings also
# read ``d`` on the previous bar); ``between`` holds when ``x - low >= 0`` and ``high - x >= 0``.
OP_GT = 0
OP_LT = 1
OP_GE = 2
OP_LE = 3
OP_CROSS_ABOVE = 4
OP_CROSS_BELOW = 5
OP_BETWEEN = 6
OPERATORS = (">", "<", ">=", "<=", "crosses_above", "crosses_below", "between")

# Simulation parameter columns (strategy parameters follow at N_SIM_PARAMS and after). NaN turns an
# optional rule off (stops, caps, breakers).
P_LEVERAGE = 0
P_TAKER_FEE = 1  # fraction of notional
P_MAKER_FEE = 2
P_SLIPPAGE = 3  # fixed fraction of price per market fill
P_IMPACT = 4  # square-root impact: slippage += impact * sqrt(order qty / volume of the deciding bar)
P_MARGIN_MODE = 5  # MARGIN_ISOLATED | MARGIN_CROSS
P_DIRECTION = 6
P_SIZE = 7  # the sizing method's number: fraction, USDT notional, risk fraction, target vol, Kelly multiple
P_FILL_AT = 8
P_STOP_LOSS = 9  # fraction of the entry price, or an ATR multiple when the stop has a column; NaN: off
P_TAKE_PROFIT = 10
P_TRAILING_STOP = 11
P_SIZING = 12  # SIZE_* method
P_MAX_POSITION = 13  # margin of one position <= this fraction of equity
P_MAX_EXPOSURE = 14  # summed open notional <= this multiple of equity (NaN: off)
P_KELLY_MIN_TRADES = 15  # Kelly sizing needs this many closed trades (and a win and a loss)...
P_KELLY_FALLBACK = 16  # ...and stakes this fraction of equity until then
P_DD_SCALE_AT = 17  # drawdown from the high-water mark at which new positions are scaled...
P_DD_SCALE = 18  # ...by this factor
P_DD_HALT = 19  # drawdown that closes everything and halts trading
P_DAILY_LOSS = 20  # loss since the UTC day's first bar that halts trading until the next day
P_MAX_LOSSES = 21  # consecutive losing trades that halt trading
P_COOLDOWN = 22  # bars after a halting bar during which no signal is acted on
N_SIM_PARAMS = 23
SIM_PARAM_NAMES = (
    "leverage",
    "taker_fee",
    "maker_fee",
    "slippage",
    "impact",
    "margin_mode",
    "direction",
    "size",
    "fill_at",
    "stop_loss",
    "take_profit",
    "trailing_stop",
    "sizing",
    "max_position_size",
    "max_exposure",
    "kelly_min_trades",
    "kelly_fallback",
    "dd_scale_at",
    "dd_scale",
    "dd_halt",
    "daily_loss",
    "max_losses",
    "cooldown",
)

MARGIN_ISOLATED = 0
MARGIN_CROSS = 1
MARGIN_MODES = ("isolated", "cross")

# Sizing methods (P_SIZING); P_SIZE is each one's number
SIZE_FRACTION = 0  # margin = size x equity
SIZE_NOTIONAL = 1  # notional = size USDT
SIZE_RISK = 2  # notional = equity x size / stop-loss distance (as a fraction of price)
SIZE_VOL = 3  # notional = equity x size / (ATR / price): an ATR move costs size x equity
SIZE_KELLY = 4  # margin = size x Kelly fraction (from running trade returns on margin) x equity
SIZING_METHODS = ("fixed_fraction", "fixed_notional", "risk_per_trade", "volatility_target", "kelly")

# Maintenance-margin bracket rows ``(n_assets, n_tiers, N_TIER)``, ascending notional; the last
# row repeats to pad symbols with fewer tiers. Maintenance margin = max_k(notional*mmr_k - cum_k).
T_CAP = 0  # notional cap of the tier (USDT)
T_MMR = 1
T_CUM = 2  # maintenance amount
T_MAX_LEV = 3  # highest leverage allowed in the tier
N_TIER = 4

# Lot filters per symbol ``(n_assets, N_LOT)``; zero: no filter
L_STEP = 0  # quantity step
L_MIN_QTY = 1
L_MIN_NOTIONAL = 2
N_LOT = 3

# Metric columns produced for every combination
M_TOTAL_RETURN = 0
M_APR = 1
M_SHARPE = 2
M_SORTINO = 3
M_CALMAR = 4
M_MAX_DRAWDOWN = 5
M_VOLATILITY = 6
M_WIN_RATE = 7
M_PROFIT_FACTOR = 8
M_N_TRADES = 9
M_N_LIQUIDATIONS = 10
M_FEES_PAID = 11
M_FUNDING_PAID = 12
M_FINAL_EQUITY = 13
M_EXPOSURE = 14
M_SCORE = 15
M_SLIPPAGE_PAID = 16
M_REALIZED_PNL = 17
M_SKEW = 18  # of the per-bar equity returns
M_KURTOSIS = 19  # non-excess (a normal distribution has 3)
M_LIQUIDATED = 20  # 1.0 when the combination had any liquidation, else 0.0
M_N_HALTS = 21  # risk circuit-breaker halts
M_MAX_HOLDING_BARS = 22  # longest trade, bars from its entry bar to its exit bar
N_METRICS = 23
METRIC_NAMES = (
    "total_return",
    "apr",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "volatility",
    "win_rate",
    "profit_factor",
    "n_trades",
    "n_liquidations",
    "fees_paid",
    "funding_paid",
    "final_equity",
    "exposure",
    "score",
    "slippage_paid",
    "realized_pnl",
    "skew",
    "kurtosis",
    "liquidated",
    "n_halts",
    "max_holding_bars",
)

# Per-block statistics of one combination's run (blocks: contiguous bar ranges given by a block id
# per bar). Equities are marks at bar closes; START is the equity before the block's first bar.
B_BARS = 0
B_SUM = 1  # sum of per-bar returns
B_SUMSQ = 2  # sum of squared returns
B_DOWNSQ = 3  # sum of squared negative returns
B_START = 4
B_END = 5
B_PEAK = 6  # highest equity in the block (START included)
B_TROUGH = 7  # lowest equity in the block (START included)
B_MAXDD = 8  # largest drawdown inside the block, START counted as a peak
B_TRADES = 9  # trades closed in the block
B_GROSS_WIN = 10  # net PnL of the winners closed in the block
B_GROSS_LOSS = 11  # minus the net PnL of the losers closed in the block
B_LIQ = 12  # liquidations in the block
N_BLOCK = 13
BLOCK_FIELDS = (
    "bars",
    "sum",
    "sumsq",
    "downsq",
    "start",
    "end",
    "peak",
    "trough",
    "maxdd",
    "trades",
    "gross_win",
    "gross_loss",
    "liquidations",
)

# Position state columns (one row per asset inside a combination)
S_QTY = 0
S_ENTRY = 1
S_MARGIN = 2
S_LIQ = 3
S_ENTRY_BAR = 4
S_FEES = 5
S_FUNDING = 6
S_SLIPPAGE = 7
S_STOP = 8  # stop-loss price (NaN: none)
S_TARGET = 9  # take-profit price (NaN: none)
S_TRAIL = 10  # trailing distance in price units (NaN: none)
S_BEST = 11  # best price since entry (highest high of a long, lowest low of a short)
N_STATE = 12

# Account accumulator slots
A_WALLET = 0
A_FEES = 1
A_FUNDING = 2
A_N_TRADES = 3
A_WINS = 4
A_GROSS_WIN = 5
A_GROSS_LOSS = 6
A_N_LIQ = 7
A_SLIPPAGE = 8
A_REALIZED = 9
A_WIN_RET = 10  # summed return on margin of the winning trades
A_LOSS_RET = 11  # minus the summed return on margin of the losing trades
A_STREAK = 12  # consecutive losing trades
A_SCALE = 13  # size multiplier of the drawdown breaker (1: none)
A_HALTS = 14
A_OPEN = 15  # positions open (lets a flat account skip the per-asset passes)
A_MAX_HOLD = 16  # longest trade so far, in bars from entry to exit
N_ACC = 17

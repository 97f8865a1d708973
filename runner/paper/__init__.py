"""Paper trading: a promoted model on bars as they close, run by the backtest's own kernel."""

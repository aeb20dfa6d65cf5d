"""Index enhancement: the constrained weekly optimiser, the back-test with costs and its statistics."""

from zoo.evaluation.enhance.backtest import EnhanceResult, run_backtest, stock_returns, week_schedule
from zoo.evaluation.enhance.optimizer import (
    Limits,
    RebalanceInput,
    RebalanceResult,
    solve_rebalance,
    stock_bounds,
    trade_bounds,
    zscore,
)
from zoo.evaluation.enhance.stats import STAT_ROWS, enhance_stats, format_table, max_drawdown

__all__ = [
    "STAT_ROWS",
    "EnhanceResult",
    "Limits",
    "RebalanceInput",
    "RebalanceResult",
    "enhance_stats",
    "format_table",
    "max_drawdown",
    "run_backtest",
    "solve_rebalance",
    "stock_bounds",
    "stock_returns",
    "trade_bounds",
    "week_schedule",
    "zscore",
]

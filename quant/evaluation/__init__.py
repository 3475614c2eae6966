"""Honest evaluation: metrics, baselines, walk-forward out-of-sample scoring and an AMM-accurate backtest."""

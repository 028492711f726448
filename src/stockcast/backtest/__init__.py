"""Backtests of predictions: portfolio construction with costs, and performance metrics."""

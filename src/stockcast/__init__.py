"""stockcast: train and honestly test stock-direction models on daily OHLCV."""

__version__ = "0.1.0"

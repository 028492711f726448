"""Scoring out-of-sample predictions: classification, significance, cross-section, plot data, breakdowns."""

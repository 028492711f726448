"""Data in: sources, corporate-action adjustment and quality checks."""

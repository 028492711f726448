"""The HTTP service of tomorrow's signals: a FastAPI app (app.py) and its request/response models (schemas.py)."""

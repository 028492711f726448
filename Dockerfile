# stockcast serve in a container: the HTTP service of tomorrow's signals (docs/serving.md).
# Build after `dvc repro` (it serves models/lstm and data/signals/, which are DVC outputs, not in git):
#   docker build -t stockcast-serve . && docker run --rm -p 127.0.0.1:8000:8000 stockcast-serve
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# LightGBM's wheel links the system OpenMP runtime, which the slim image lacks
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*
WORKDIR /app

# torch first, from the CPU index (no CUDA libraries): the same pin as pyproject.toml (a test checks it)
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install .

# what serving reads: the model bundle, the predict stage's table, params.yaml (evaluate.threshold)
COPY params.yaml ./
COPY models/lstm ./models/lstm
COPY data/signals ./data/signals

EXPOSE 8000
# 0.0.0.0 inside the container: Docker's port mapping reaches the container's own interface, not its
# loopback; publish it on the host's loopback only (-p 127.0.0.1:8000:8000) unless it must be reachable
CMD ["stockcast", "serve", "models/lstm", "--host", "0.0.0.0", "--port", "8000"]

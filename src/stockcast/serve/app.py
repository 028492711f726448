"""The HTTP service of tomorrow's signals: the predict stage's table, and the same scoring on posted bars.

The model is loaded once (`stockcast serve` builds a Scorer and hands it to `create_app`; nothing is
global), and both endpoints answer with the pipeline's own numbers: GET /v1/signals/{ticker} reads the
predict stage's table, POST /v1/predict runs Scorer.score_bars (quality rules, features, the model's
normaliser and model), which tests/test_predict.py checks against the evaluate stage's probabilities.

Errors are one line, `{"error": "..."}`, never a traceback: a malformed body or bar is a 422 naming
the bar and the field; a ticker with too few bars or a bar quality quarantines is a 422 naming the
ticker and the rule; an unknown ticker a 404; anything unexpected a 500, after which the server keeps
serving. POST /v1/predict runs in FastAPI's threadpool (a plain function: its work is CPU-bound), the
other endpoints on the event loop (they only read memory). Requests score concurrently, but the model's
forward runs one at a time (_OneAtATime): with 8 clients on 2 busy cores benchmarks/serve_latency.py
measured 30 requests/s, where a lock around the whole of a request's scoring (tried first) gave 20.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np
import polars as pl
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from stockcast.errors import StockcastError, shown
from stockcast.models import Model, Windows
from stockcast.predict import Scorer
from stockcast.schemas import Signals, validate
from stockcast.serve.schemas import ErrorBody, Live, PredictRequest, PredictResponse, Ready, Signal

ABOUT = """Tomorrow's direction signals of a stockcast model, the pipeline's own numbers.

* `GET /v1/signals/{ticker}`: the row of the predict stage's table (`data/signals/latest.parquet`):
  the same `prob` the stage wrote, or the reason the ticker could not be scored.
* `POST /v1/predict`: bars in, signals out. The pipeline's quality rules, features, normaliser and
  model run on the posted history, so bars cut at a date give the probability the evaluate stage
  scored at that date. **A 200 means every posted ticker was scored**; otherwise the whole request is
  refused with a 422 that names the first ticker that could not be and why.
* Every error is `{"error": "<one line>"}`: 422 for a bad body (the bar and field), too few bars (the
  number needed), a price that is not a finite number, or a bar the quality rules quarantine (the
  rule); 404 for a ticker the table does not have; 503 when no signals table is loaded; 500 for a bug,
  after which the server keeps serving.

This reference is generated from the app's OpenAPI schema (`stockcast serving-doc`), also served at
`/openapi.json`. The Swagger and ReDoc pages are off: they load their scripts from a CDN and this
project's pages work offline."""


@dataclass
class Service:
    """What the endpoints share: the model (its forward behind a lock), the predict stage's table by ticker."""

    scorer: Scorer
    signals: dict[str, Signal] | None
    source: str
    as_of: date | None

    def score(self, bars: list[Any]) -> list[Signal]:
        """Signals of the posted bars, every ticker scored, or a StockcastError naming the first that is not."""
        frame = _bars_frame(bars)
        counts = frame.group_by("ticker").len().filter(pl.col("len") < self.scorer.min_rows).sort("ticker")
        if counts.height:
            ticker, rows = counts.row(0)
            raise StockcastError(f"ticker {ticker}: {rows} bars, the model needs at least {self.scorer.min_rows} "
                                 f"(feature warm-up {self.scorer.lookback} + window {self.scorer.seq_len})")
        table, quarantined = self.scorer.score_bars(frame)
        if quarantined.height:
            first = quarantined.sort("ticker", "date").row(0, named=True)
            raise StockcastError(f"ticker {first['ticker']}: bar of {first['date']} quarantined by quality rule "
                                 f"{first['rule']} ({first['detail']}); {quarantined.height} bar(s) in all")
        unscored = table.filter(pl.col("reason").is_not_null())
        if unscored.height:
            ticker, reason = unscored.select("ticker", "reason").row(0)
            raise StockcastError(f"ticker {ticker}: {reason}")
        return _signals(table)


class _OneAtATime:
    """A model whose predict_proba runs one call at a time. torch does not promise that one module may run
    in several threads (SequenceModel.predict_proba also moves the net to its device and sets eval mode on
    each call); the rest of a request (quality checks, features: polars, mostly without the GIL) runs
    concurrently. Everything else is the model's own."""

    def __init__(self, model: Model):
        self._model, self._lock = model, threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def predict_proba(self, data: Windows, segment: str) -> np.ndarray:
        with self._lock:
            return self._model.predict_proba(data, segment)


def _bars_frame(bars: list[Any]) -> pl.DataFrame:
    """The posted bars as a RawOHLCV frame (column by column: a few microseconds per bar)."""
    columns = ("ticker", "date", "open", "high", "low", "close", "volume", "adj_close")
    types = (pl.String, pl.Date, pl.Float64, pl.Float64, pl.Float64, pl.Float64, pl.Int64, pl.Float64)
    return pl.DataFrame({c: [getattr(b, c) for b in bars] for c in columns}, schema=dict(zip(columns, types)))


def _signals(table: pl.DataFrame) -> list[Signal]:
    return [Signal.model_validate(row) for row in table.iter_rows(named=True)]


def create_app(scorer: Scorer, signals: pl.DataFrame | None, source: str = "data/signals/latest.parquet") -> FastAPI:
    """The service around one loaded model; `signals`: the predict stage's table (read from `source`), made
    by that same model, or None (then GET /v1/signals answers 503 until the stage has run)."""
    table = None
    if signals is not None:
        validate(signals, Signals, source)
        made_by = signals["model_hash"].unique().to_list()
        if made_by != [scorer.hash]:
            raise StockcastError(f"{source}: made by model hash {', '.join(h[:12] for h in made_by)}, not by the "
                                 f"served {scorer.name} {scorer.hash[:12]}; rerun the predict stage "
                                 "(dvc repro predict) or serve the model that made it")
        table = {s.ticker: s for s in _signals(signals)}
    as_of = signals["as_of"].max() if signals is not None else None
    app = api()
    app.state.service = Service(replace(scorer, model=_OneAtATime(scorer.model)), table, source, as_of)
    return app


async def _service(request: Request) -> Service:  # async: no threadpool hop just to read app.state
    return request.app.state.service


ERRORS: dict[int | str, dict[str, Any]] = {  # every route: FastAPI's own 422 body is replaced by ErrorBody
    "4XX": {"model": ErrorBody, "description": "bad input, in one line: what and where"},
    "5XX": {"model": ErrorBody, "description": "a bug, in one line (the traceback goes to the server's log)"}}


def api() -> FastAPI:
    """The routes and error handlers, with no model: what the OpenAPI schema (and docs/serving.md) is made of."""
    app = FastAPI(title="stockcast", summary="tomorrow's direction signals", description=ABOUT,
                  docs_url=None, redoc_url=None)
    _handle_errors(app)

    @app.get("/health/live", response_model=Live, tags=["health"], summary="liveness", responses=ERRORS)
    async def live() -> Live:
        """The process answers (no check of the model: see /health/ready)."""
        return Live()

    @app.get("/health/ready", response_model=Ready, tags=["health"], summary="readiness", responses=ERRORS)
    async def ready(service: Service = Depends(_service)) -> Ready:
        """Ready to score: the model loaded and verified (its hash), the signals table and its as-of date."""
        scorer = service.scorer
        return Ready(model=scorer.name, model_hash=scorer.hash, threshold=scorer.threshold,
                     features=len(scorer.features), seq_len=scorer.seq_len, min_rows=scorer.min_rows,
                     signals_as_of=service.as_of, signals_tickers=len(service.signals or {}))

    @app.get("/v1/signals/{ticker}", response_model=Signal, tags=["signals"], summary="a ticker's signal",
             responses={404: {"model": ErrorBody, "description": "the table has no such ticker"},
                        503: {"model": ErrorBody, "description": "no signals table loaded: run the predict stage"},
                        **ERRORS})
    async def signal(ticker: str, service: Service = Depends(_service)) -> Signal:
        """The ticker's row of the predict stage's table: its prob, call and rank, or the reason it has none."""
        if service.signals is None:
            raise HTTPException(503, f"no signals table ({service.source} did not exist when the server started): "
                                     "run the predict stage (dvc repro predict) and restart the server")
        if ticker not in service.signals:
            raise HTTPException(404, f"ticker {shown(ticker)} is not in {service.source} ({len(service.signals)} "
                                     f"tickers, as of {service.as_of})")
        return service.signals[ticker]

    @app.post("/v1/predict", response_model=PredictResponse, tags=["signals"], summary="score posted bars",
              responses={422: {"model": ErrorBody, "description": "a bad body or bar, too few bars, a quarantined "
                                                                "bar: one line naming the ticker and the rule"},
                         **ERRORS})
    def predict(body: PredictRequest, service: Service = Depends(_service)) -> PredictResponse:  # CPU: threadpool
        """Signals from posted bars, one or more tickers, at least `min_rows` bars each (GET /health/ready):
        the pipeline's quality rules, features, normaliser and model, on the fly. 200: every ticker scored."""
        return PredictResponse(signals=service.score(body.bars))

    return app


def _handle_errors(app: FastAPI) -> None:
    """Every error answer is {"error": one line}; a bug is a 500 and a logged traceback, never a dead server."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        return _error(422, _first_problem(err))

    @app.exception_handler(StockcastError)
    async def refused(request: Request, err: StockcastError) -> JSONResponse:
        return _error(422, str(err))

    @app.exception_handler(HTTPException)
    async def http(request: Request, err: HTTPException) -> JSONResponse:
        detail = {404: f"no such endpoint: {request.method} {request.url.path} (see /openapi.json)",
                  405: f"{request.method} is not allowed on {request.url.path}"}
        message = err.detail if err.detail not in ("Not Found", "Method Not Allowed") else detail[err.status_code]
        return _error(err.status_code, message, err.headers)

    @app.exception_handler(Exception)
    async def bug(request: Request, err: Exception) -> JSONResponse:  # Starlette then logs the traceback
        return _error(500, f"internal error ({type(err).__name__}: {err}); the server keeps serving")


MESSAGE_CHARS = 500  # an error is a line a person reads, whatever text an exception carried


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    line = " ".join(str(message).split())
    line = line if len(line) <= MESSAGE_CHARS else f"{line[:MESSAGE_CHARS - 1]}…"
    return JSONResponse({"error": line}, status_code=status, headers=headers)


def _first_problem(err: RequestValidationError) -> str:
    """The first validation problem in one line: where (bars[3].close, of which ticker and date) and what."""
    problem = err.errors()[0]
    if problem["type"] == "json_invalid":
        return f"body: not valid JSON ({problem.get('ctx', {}).get('error', 'decode error')} at character " \
               f"{problem['loc'][-1]})"
    if isinstance(problem.get("input"), bytes):  # FastAPI parses JSON only when the request says it is JSON
        return 'body: expected a JSON object {"bars": [...]} sent with Content-Type: application/json'
    loc = [part for part in problem["loc"] if part != "body"]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "body"
    bar = _posted_bar(err.body, loc)
    if bar is not None:
        where = f"{where} (ticker {shown(bar.get('ticker'), 40)}, date {shown(bar.get('date'), 40)})"
    got = "" if problem["type"] == "missing" else f" (got {shown(problem.get('input'), 60)})"
    more = len(err.errors()) - 1
    return f"{where}: {problem['msg']}{got}" + (f"; {more} more problem(s)" if more else "")


def _posted_bar(body: Any, loc: list[Any]) -> dict[str, Any] | None:
    """The bar a problem is in, when the body is {"bars": [...]} and the location is bars[i]...."""
    if len(loc) < 3 or loc[0] != "bars" or not isinstance(loc[1], int) or not isinstance(body, dict):
        return None
    bars = body.get("bars")
    bar = bars[loc[1]] if isinstance(bars, list) and loc[1] < len(bars) else None
    return bar if isinstance(bar, dict) else None

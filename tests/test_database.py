"""The sql source: a DuckDB file, and a real PostgreSQL server started here on 127.0.0.1 (Debian's package)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import duckdb
import polars as pl
import pytest

from stockcast.data.database import load_sql
from stockcast.data.sources import load
from stockcast.data.synthetic import generate
from stockcast.errors import StockcastError
from stockcast.params import parse_section

BARS = generate("null", 3, 60, seed=5)[0]


def _sql(**sql) -> object:
    return parse_section("ingest", {"source": "sql", "sql": sql} | ({"path": sql["url"][len("duckdb:///"):]}
                                                                     if sql.get("url", "").startswith("duckdb") else {}))


@pytest.fixture
def duckdb_file(tmp_path):
    path = tmp_path / "prices.duckdb"
    table = BARS.rename({"ticker": "Symbol", "adj_close": "Adj Close"}).with_columns(
        exchange=pl.when(pl.col("Symbol") == BARS["ticker"][0]).then(pl.lit("XKRX")).otherwise(pl.lit("XNYS")))
    with duckdb.connect(str(path)) as con:
        con.register("frame", table.to_arrow())
        con.execute("CREATE TABLE ohlcv AS SELECT * FROM frame")
    return path


def test_a_duckdb_table_is_read_whole_with_its_exchanges(duckdb_file):
    params = _sql(url=f"duckdb:///{duckdb_file}")
    bars, meta = load(params)
    assert bars.equals(BARS)
    first = BARS["ticker"][0]
    assert meta["exchanges"] == {t: "XKRX" if t == first else "XNYS" for t in BARS["ticker"].unique()}
    assert meta["source"] == "sql" and meta["rows"] == BARS.height and len(meta["query_sha256"]) == 64


def test_a_duckdb_query_selects_what_it_says(duckdb_file):
    first = BARS["ticker"][0]
    bars, meta = load_sql(_sql(url=f"duckdb:///{duckdb_file}", table=None,
                               query=f"SELECT * FROM ohlcv WHERE Symbol = '{first}' AND date >= '2000-02-01'").sql)
    expected = BARS.filter((pl.col("ticker") == first) & (pl.col("date") >= pl.date(2000, 2, 1)))
    assert bars.equals(expected) and meta["first_date"] == str(expected["date"].min())


def test_duckdb_problems_are_one_line_errors(duckdb_file, tmp_path):
    with pytest.raises(StockcastError, match=r"no DuckDB file at"):
        load_sql(_sql(url=f"duckdb:///{tmp_path / 'none.duckdb'}").sql)
    with pytest.raises(StockcastError, match=r"^sql duckdb:///.*Catalog Error: Table with name nope"):
        load_sql(_sql(url=f"duckdb:///{duckdb_file}", table="nope").sql)
    with pytest.raises(StockcastError, match=r"the query returned no rows"):
        load_sql(_sql(url=f"duckdb:///{duckdb_file}", table=None, query="SELECT * FROM ohlcv WHERE false").sql)


@pytest.mark.parametrize(("sql", "message"), [
    ({"url": "postgresql://me:secret@db:5432/prices"}, "the URL holds a password"),
    ({"url": "postgresql://db/prices?password=secret"}, "the URL holds a password"),
    ({"url": "mysql://db/prices"}, "expected duckdb:///path"),
    ({"url": "postgresql://db/prices", "table": "ohlcv; DROP TABLE x"}, "is not a table name"),
    ({"url": "postgresql://db/prices", "query": "SELECT 1"}, "exactly one of query and table"),
])
def test_bad_sql_params_are_one_line_errors(sql, message):
    with pytest.raises(StockcastError, match=message):
        parse_section("ingest", {"source": "sql", "sql": sql})


def test_a_duckdb_source_makes_the_file_its_dvc_dependency():
    with pytest.raises(StockcastError, match=r"set path: 'data/x.duckdb' too, so the ingest stage's DVC dependency"):
        parse_section("ingest", {"source": "sql", "sql": {"url": "duckdb:///data/x.duckdb"}})


# ---- a real PostgreSQL server -------------------------------------------------------------------------------------

def _postgres_bin() -> Path | None:
    found = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1:]), None)
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """A throwaway server on 127.0.0.1 with password authentication; yields (url without password, password).
    initdb refuses root, so as root it runs as the `postgres` user the package creates."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries absent (apt-get install postgresql; .ci/run does it as root)")
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None or subprocess.run(["id", "postgres"], capture_output=True, check=False).returncode:
            pytest.skip("running as root without a postgres user to run the server as")
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="stockcast-pg-"))
    password, port = "s3cret-for-tests", _free_port()
    (root / "pw").write_text(password)
    if as_user:
        shutil.chown(root, "postgres")
        shutil.chown(root / "pw", "postgres")
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", "stockcast",
                    "--pwfile", str(root / "pw"), "--auth", "scram-sha-256"], check=True, capture_output=True, timeout=120)
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log"), "-w", "-o",
                    f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"], check=True, capture_output=True,
                   timeout=120)
    try:
        yield f"postgresql://stockcast@127.0.0.1:{port}/postgres", password
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m", "fast", "stop"],
                       capture_output=True, timeout=120, check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_table(postgres):
    url, password = postgres
    table = BARS.with_columns(exchange=pl.lit("XNAS"))
    table.write_database("prices", url.replace("stockcast@", f"stockcast:{password}@"), engine="adbc",
                         if_table_exists="replace")
    return url, password


def test_a_postgres_query_is_read_with_the_password_from_the_environment(postgres_table, monkeypatch):
    url, password = postgres_table
    monkeypatch.setenv("PGPASSWORD", password)
    last = BARS["ticker"].unique().sort()[-1]
    params = parse_section("ingest", {"source": "sql", "sql": {
        "url": url, "table": None, "query": f"SELECT * FROM prices WHERE ticker <> '{last}' ORDER BY date DESC"}})
    bars, meta = load(params)
    assert bars.equals(BARS.filter(pl.col("ticker") != last))       # sorted by ticker and date, types kept
    assert set(meta["exchanges"].values()) == {"XNAS"} and "s3cret" not in str(meta)


def test_a_wrong_postgres_password_is_one_line_naming_where_it_comes_from(postgres_table, monkeypatch):
    url, _ = postgres_table
    monkeypatch.setenv("PGPASSWORD", "wrong")
    with pytest.raises(StockcastError, match=r"^sql postgresql://stockcast@127\.0\.0\.1:\d+/postgres: .*password.*"
                                             r"PGPASSWORD or ~/\.pgpass\)$"):
        load_sql(parse_section("ingest", {"source": "sql", "sql": {"url": url, "table": "prices"}}).sql)

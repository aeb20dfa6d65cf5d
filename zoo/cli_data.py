"""``zoo data …``: inspect, generate, ingest and append to data cubes."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import typer

data_app = typer.Typer(
    name="data",
    help="Data cubes (xarray + Zarr): info, synthetic market, ingest of real daily bars.",
    no_args_is_help=True,
)


@data_app.command("info")
def info(
    store: str = typer.Argument("embedded", help="A Zarr store path, 'embedded' or 'synth'."),
    labels: bool = typer.Option(False, "--labels", help="Also compute labels and print their coverage."),
    start: str | None = typer.Option(None, "--start", help="First date of the oracle RankIC lines."),
    end: str | None = typer.Option(None, "--end", help="Last date of the oracle RankIC lines."),
) -> None:
    """Print dates, symbols, fields, universes, missing shares, provenance and index tracking of STORE."""
    import numpy as np

    from zoo.datasets import describe_cube, open_cube

    cube = open_cube(store)
    typer.echo(describe_cube(cube))
    if labels:
        from zoo.datasets.labels import ensure_labels

        cube = ensure_labels(cube)
        for h in cube["horizon"].values:
            raw = cube["label_raw"].sel(horizon=h).values
            typer.echo(f"label h={int(h)}: finite share {np.isfinite(raw).mean():.1%}")
    if "expected_return" in cube.data_vars:
        _print_oracles(cube, slice(start, end))


def _print_oracles(cube, dates: slice = slice(None)) -> None:
    """Print the planted and the feasible oracle RankIC of a synthetic cube for each horizon."""
    from zoo.datasets.feasible import feasible_rank_ic
    from zoo.datasets.synth import oracle_rank_ic

    span = "" if dates == slice(None) else f", {dates.start or 'first'}..{dates.stop or 'last'}"
    for h in (int(h) for h in cube["horizon"].values):
        typer.echo(
            f"oracle RankIC h={h} (universe all{span}): {oracle_rank_ic(cube, h, dates):.4f}; "
            f"feasible oracle (Kalman filter on observed prices): {feasible_rank_ic(cube, h, dates):.4f}"
        )


@data_app.command("synth")
def synth(
    out: Path = typer.Option(..., "--out", "-o", help="Zarr store to write (replaced atomically)."),
    stocks: int = typer.Option(1000, "--stocks", help="Number of stocks."),
    start: str = typer.Option("2014-01-01", "--start", help="First calendar date."),
    end: str = typer.Option("2023-12-31", "--end", help="Last calendar date."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same cube)."),
    industries: int = typer.Option(20, "--industries", help="Number of industries."),
    signal_strength: float | None = typer.Option(
        None,
        "--signal-strength",
        help="Scale of the planted signal (default: datasets.synth.DEFAULT_SIGNAL_STRENGTH, 2.5).",
    ),
    labels: bool = typer.Option(True, "--labels/--no-labels", help="Store labels (h = 10, 20) too."),
) -> None:
    """Generate a synthetic market cube with a planted, known predictable part of returns."""
    from zoo.datasets import write_cube
    from zoo.datasets.feasible import ensure_feasible
    from zoo.datasets.labels import ensure_labels
    from zoo.datasets.synth import DEFAULT_SIGNAL_STRENGTH, make_market

    t0 = time.perf_counter()
    cube = make_market(
        n_stocks=stocks,
        start=start,
        end=end,
        seed=seed,
        n_industries=industries,
        signal_strength=DEFAULT_SIGNAL_STRENGTH if signal_strength is None else signal_strength,
    )
    if labels:
        cube = ensure_feasible(ensure_labels(cube, horizons=(10, 20)))
    write_cube(cube, out)
    typer.echo(
        f"wrote {out}: {cube.sizes['date']} days x {cube.sizes['symbol']} stocks "
        f"in {time.perf_counter() - t0:.1f}s"
    )
    if labels:
        _print_oracles(cube)


def _beside(files: list[Path], symbols: Path | None, index: Path | None) -> tuple[Path | None, Path | None]:
    """Symbol table and index series as given, else a stocks.csv / index_daily.parquet beside files[0]."""
    here = files[0].parent
    if symbols is None and (here / "stocks.csv").exists():
        symbols = here / "stocks.csv"
        typer.echo(f"using symbol table {symbols}")
    if index is None and (here / "index_daily.parquet").exists():
        index = here / "index_daily.parquet"
        typer.echo(f"using index series {index}")
    return symbols, index


@data_app.command("ingest")
def ingest(
    files: list[Path] = typer.Argument(
        ...,
        help="Input files or folders: long CSV/Parquet (date, symbol, OHLC, volume…), a qlib provider "
        "folder, Tushare/AKShare/baostock exports or wide tables (see --format).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Zarr store to write (written aside, then renamed)."),
    fmt: str | None = typer.Option(
        None, "--format", help="long, qlib, tushare, akshare, baostock or wide (default: detected)."
    ),
    start: str | None = typer.Option(None, "--start", help="First date to read (inclusive)."),
    end: str | None = typer.Option(None, "--end", help="Last date to read (inclusive)."),
    instruments: str | None = typer.Option(
        None, "--instruments", help="qlib: the market whose symbols to read (instruments/<name>.txt)."
    ),
    members: Path | None = typer.Option(
        None, "--members", help="Real index membership: a long file date, symbol, index[, weight]."
    ),
    symbols: Path | None = typer.Option(
        None,
        "--symbols",
        help="Per-symbol table (stocks.csv layout: industry, shares). Default: a "
        "stocks.csv beside the first file, if any.",
    ),
    index: Path | None = typer.Option(
        None,
        "--index",
        help="Real index series (index_daily.parquet layout). Default: an "
        "index_daily.parquet beside the first file, if any.",
    ),
    size_proxy: str = typer.Option(
        "amount20", "--size-proxy", help="amount20 (log 20-day mean amount) or cap."
    ),
    sectors: str = typer.Option(
        "sw28", "--sectors", help="sw28 (28 broad sectors) or raw (industries as given)."
    ),
    labels: bool = typer.Option(True, "--labels/--no-labels", help="Store labels (h = 10, 20) too."),
) -> None:
    """Ingest real daily bars into a cube; bad input is refused naming file, row and column."""
    import resource

    from zoo.datasets import write_cube
    from zoo.datasets.ingest import ingest as run_ingest
    from zoo.datasets.labels import ensure_labels
    from zoo.datasets.readers import ReadOptions
    from zoo.datasets.schema import APPEND_DATE_CHUNK

    symbols, index = _beside(files, symbols, index)
    t0 = time.perf_counter()
    options = ReadOptions(start=start, end=end, instruments=instruments)
    cube = run_ingest(
        files,
        symbols,
        index,
        size_proxy=size_proxy,
        sectors=sectors,
        fmt=fmt,
        options=options,
        members_file=members,
    )
    if labels:
        cube = ensure_labels(cube, horizons=(10, 20))
    write_cube(cube, out, date_chunk=APPEND_DATE_CHUNK)  # small date chunks: appends rewrite little
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    typer.echo(
        f"wrote {out}: {cube.sizes['date']} days x {cube.sizes['symbol']} stocks in "
        f"{time.perf_counter() - t0:.1f}s, peak memory {peak:.0f} MiB"
    )


@data_app.command("append")
def append(
    files: list[Path] = typer.Argument(
        ..., help="Files or a folder with the new days, in any format `zoo data ingest` reads."
    ),
    to: Path = typer.Option(..., "--to", help="The ingested Zarr store to extend (replaced atomically)."),
    fmt: str | None = typer.Option(None, "--format", help="As for `zoo data ingest` (default: detected)."),
    members: Path | None = typer.Option(
        None, "--members", help="Real index membership for the new days (long file), if the store has it."
    ),
    symbols: Path | None = typer.Option(
        None,
        "--symbols",
        help="Per-symbol table, as given to `zoo data ingest`. Default: a stocks.csv beside the first "
        "file, if any.",
    ),
    index: Path | None = typer.Option(
        None,
        "--index",
        help="Real index series for the new days. Default: an index_daily.parquet beside the first file.",
    ),
) -> None:
    """Append new trading days to an ingested store: the same cube as one ingest of everything."""
    from tqdm.auto import tqdm

    from zoo.datasets.append import append_store

    symbols, index = _beside(files, symbols, index)
    t0 = time.perf_counter()
    # quiet off a terminal, and shown only when the append takes over a second
    with tqdm(total=3, desc="append", unit="step", delay=1.0, disable=None) as bar:

        def step(msg: str) -> None:
            """Advance the bar past the previous step and name the next one."""
            if bar.n or msg != "read store":
                bar.update(1)
            bar.set_postfix_str(msg)

        result = append_store(to, files, symbols, index, step=step, fmt=fmt, members_file=members)
        bar.update(bar.total - bar.n)
    cube = result.cube
    if not len(result.new_dates):
        typer.echo(f"{to}: nothing to append ({result.skipped_rows} rows already stored, identical)")
        return
    changed = "nothing" if result.first_changed is None else f"from {result.first_changed.date()} on"
    span = f"{result.new_dates[0].date()}..{result.new_dates[-1].date()}"
    typer.echo(
        f"appended {len(result.new_dates)} days ({span}) to {to}: "
        f"now {cube.sizes['date']} days x {cube.sizes['symbol']} stocks; "
        f"{len(result.new_symbols)} new symbols; stored days changed {changed} "
        f"(re-derived from {result.derived_from.date()}); "
        f"{result.rewritten} write in {time.perf_counter() - t0:.1f}s"
    )


@data_app.command("slice")
def slice_(
    store: str = typer.Argument(..., help="The full cube to cut from (path, 'embedded' or 'synth')."),
    out: Path = typer.Option(..., "--out", "-o", help="Zarr store to write."),
    per_group: int = typer.Option(
        75, "--per-group", help="Stocks from each tier group (csi300/500/1000/other)."
    ),
    seed: int = typer.Option(0, "--seed", help="Sampling seed."),
) -> None:
    """Cut a size-balanced slice (all dates; universes and labels from the full market)."""
    from zoo.datasets import open_cube, write_cube
    from zoo.datasets.slicing import SliceWarning, make_slice

    cube = open_cube(store)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SliceWarning)
        sub = make_slice(cube, per_group=per_group, seed=seed)
    for w in caught:
        if issubclass(w.category, SliceWarning):  # a short group taken whole, the rest filled: say so
            typer.echo(f"note: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    write_cube(sub, out)
    typer.echo(f"wrote {out}: {sub.sizes['date']} days x {sub.sizes['symbol']} stocks")


def register(app: typer.Typer) -> None:
    """Mount ``zoo data`` on the zoo app."""
    app.add_typer(data_app, name="data")

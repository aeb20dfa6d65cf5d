"""The report's files: a writer the sections put their tables and plots through, and the two pages.

``Writer`` writes each table as CSV + Markdown (cells formatted by kind) and keeps the blocks in
order; ``write_pages`` renders those blocks as ``report.md`` and a self-contained ``report.html``.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from zoo.evaluation.baselines import is_baseline, short_name

#: How a table's cells are printed: a percentage, a number of 2 or 3 decimals, a count, or text.
Kind = str
KINDS: dict[Kind, object] = {
    "pct": lambda v: f"{v * 100:.2f}%",
    "pct1": lambda v: f"{v * 100:.1f}%",
    "num2": lambda v: f"{v:.2f}",
    "num3": lambda v: f"{v:.3f}",
    "int": lambda v: f"{v:.0f}",
}


def markdown_table(df: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table of a DataFrame (index included)."""
    frame = df.copy()
    if isinstance(frame.columns, pd.MultiIndex):
        frame.columns = [" ".join(str(x) for x in c) for c in frame.columns]
    idx_names = [str(n) if n is not None else "" for n in (frame.index.names or [None])]
    head = idx_names + [str(c) for c in frame.columns]

    def cell(v: object) -> str:
        if isinstance(v, float | np.floating):
            return "n/a" if not math.isfinite(float(v)) else f"{float(v):.{digits}g}"
        return str(v)

    rows = []
    for key, row in frame.iterrows():
        keys = list(key) if isinstance(key, tuple) else [key]
        rows.append([cell(k) for k in keys] + [cell(v) for v in row.to_numpy()])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def formatted(df: pd.DataFrame, kinds: Kind | dict[str, Kind]) -> pd.DataFrame:
    """The table as text: ``kinds`` is one kind for all cells, or one per row label (last index level)."""

    def cell(v: object, kind: Kind) -> str:
        if isinstance(v, str):
            return v
        if v is None or not np.isfinite(float(v)):
            return "n/a"
        return KINDS[kind](float(v))  # type: ignore[operator]

    rows = []
    for key, row in df.iterrows():
        label = key[-1] if isinstance(key, tuple) else key
        kind = kinds if isinstance(kinds, str) else kinds.get(str(label), "num3")
        rows.append([cell(v, kind) for v in row.to_numpy()])
    return pd.DataFrame(rows, index=df.index, columns=df.columns)


def html_table(text: pd.DataFrame) -> str:
    """An HTML table of a text table: baseline columns shaded and named short, index levels as headers."""
    names = [str(n) if n is not None else "" for n in text.index.names]
    head = "".join(f"<th class='idx'>{html.escape(n)}</th>" for n in names)
    for c in text.columns:
        if is_baseline(c):
            head += f"<th class='base'>{html.escape(short_name(c))}<br><small>baseline</small></th>"
        else:
            head += f"<th>{html.escape(str(c))}</th>"
    body = []
    for key, row in text.iterrows():
        keys = list(key) if isinstance(key, tuple) else [key]
        cells = "".join(f"<th class='idx'>{html.escape(str(k))}</th>" for k in keys)
        cells += "".join(
            f"<td class='base'>{html.escape(v)}</td>" if is_baseline(c) else f"<td>{html.escape(v)}</td>"
            for c, v in zip(text.columns, row.to_numpy(), strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f"<div class='scroll'>{table}</div>"


@dataclass
class Block:
    """One block of the report: a heading, a note, a table (text), a plot or preformatted lines."""

    heading: str = ""
    note: str = ""
    text: pd.DataFrame | None = None
    plot: Path | None = None
    level: int = 2
    pre: str = ""


@dataclass
class Writer:
    """Writes a section's files under ``out`` and collects its blocks for the pages, in order."""

    out: Path
    files: list[Path] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)

    def csv(self, name: str, df: pd.DataFrame) -> None:
        """``<name>.csv`` (a data file beside the tables: daily series and the like)."""
        df.to_csv(self.out / f"{name}.csv")
        self.files.append(self.out / f"{name}.csv")

    def table(
        self,
        name: str,
        df: pd.DataFrame,
        heading: str,
        kinds: Kind | dict[str, Kind],
        note: str = "",
        text: pd.DataFrame | None = None,
    ) -> None:
        """``<name>.csv`` (numbers), ``<name>.md`` (formatted by ``kinds``, or ``text`` as given), a block."""
        df.to_csv(self.out / f"{name}.csv")
        text = formatted(df, kinds) if text is None else text
        (self.out / f"{name}.md").write_text(markdown_table(text) + "\n")
        self.files += [self.out / f"{name}.csv", self.out / f"{name}.md"]
        self.blocks.append(Block(heading, note, text))

    def figure(self, path: Path, heading: str = "", note: str = "") -> None:
        """A plot already written to ``path``, as a block."""
        self.files.append(path)
        self.blocks.append(Block(heading, note, plot=path))

    def part(self, heading: str, note: str = "") -> None:
        """A part's heading (one level above the tables')."""
        self.blocks.append(Block(heading, note, level=1))

    def lines(self, heading: str, text: str, note: str = "") -> None:
        """Preformatted lines (the verdicts) as a block."""
        self.blocks.append(Block(heading, note, pre=text))


_STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:0 12px}"
    "table{border-collapse:collapse;font-size:13px;margin:6px 0}"
    "td,th{padding:2px 6px;text-align:right;border-bottom:1px solid #ddd;white-space:nowrap}"
    "thead th{white-space:normal;vertical-align:bottom;max-width:110px;word-wrap:break-word}"
    "th.idx{text-align:left}.base{background:#f3f3f3;color:#444}"
    ".scroll{overflow-x:auto;max-width:100%}.note{color:#555;font-size:13px}"
    "pre{font-size:11px;overflow-x:auto}img{max-width:100%}h2{border-bottom:2px solid #333}"
)


def _markdown(block: Block) -> list[str]:
    md = []
    if block.heading:
        md += [f"{'#' * (block.level + 1)} {block.heading}", ""]
    if block.note:
        md += [block.note, ""]
    if block.text is not None:
        md += [markdown_table(block.text), ""]
    elif block.plot is not None:
        md += [f"![{block.plot.stem}]({block.plot.name})", ""]
    elif block.pre:
        md += ["```", block.pre, "```", ""]
    return md


def _html(block: Block) -> list[str]:
    parts = []
    if block.heading:
        parts.append(f"<h{block.level + 1}>{html.escape(block.heading)}</h{block.level + 1}>")
    if block.note:
        parts.append(f"<p class='note'>{html.escape(block.note)}</p>")
    if block.text is not None:
        parts.append(html_table(block.text))
    elif block.plot is not None:
        data = base64.b64encode(block.plot.read_bytes()).decode("ascii")
        parts.append(f'<p><img alt="{block.plot.stem}" src="data:image/png;base64,{data}"></p>')
    elif block.pre:
        parts.append(f"<pre>{html.escape(block.pre)}</pre>")
    return parts


def write_pages(out: Path, title: str, intro: str, summary: str, blocks: list[Block]) -> list[Path]:
    """``report.md`` and a self-contained ``report.html`` (plots inlined): title, intro, summary, blocks."""
    md = [f"# {title}", "", intro, "", "```", summary, "```", ""]
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(intro)}</p>",
        f"<pre>{html.escape(summary)}</pre>",
    ]
    for block in blocks:
        md += _markdown(block)
        parts += _html(block)
    (out / "report.md").write_text("\n".join(md))
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    (out / "report.html").write_text(page)
    return [out / "report.md", out / "report.html"]

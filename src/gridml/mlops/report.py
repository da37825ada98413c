"""A tiny document model rendered both as Markdown and as self-contained HTML (images inlined),
shared by model cards and monitoring reports. Pure: no MLflow, no I/O except reading images."""

from __future__ import annotations

import base64
import html
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class Section:
    title: str
    blocks: list[object] = field(default_factory=list)  # str | pd.DataFrame | Path (image) | Code


@dataclass(frozen=True)
class Code:
    text: str


def _cell(value: object) -> str:
    """A table cell: floats to 4 significant digits, a missing value as "-" (never "nan")."""
    if isinstance(value, float):
        return f"{value:.4g}" if value == value else "-"
    return "-" if value is None or value is pd.NA else str(value)


def _md_table(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = [_cell(v) for v in row]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def to_markdown(title: str, sections: list[Section], base: Path | None = None) -> str:
    """The report as Markdown (tables, image links relative to `base`, text)."""
    out = [f"# {title}", ""]
    for s in sections:
        out += [f"## {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, pd.DataFrame):
                out.append(_md_table(b))
            elif isinstance(b, Path):
                rel = b.relative_to(base) if base is not None and b.is_relative_to(base) else b
                out.append(f"![{b.stem}]({rel})")
            elif isinstance(b, Code):
                out.append(f"```\n{b.text.rstrip()}\n```")
            else:
                out.append(str(b))
            out.append("")
    return "\n".join(out)


def _html_table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for row in df.itertuples(index=False):
        cells = [_cell(v) for v in row]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


STYLE = (
    "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;"
    "text-align:right}th{background:#f3f3f3}pre{background:#f6f6f6;padding:8px;overflow:auto}"
    "img{max-width:100%}.alert{color:#b00;font-weight:bold}"
)


def to_html(title: str, sections: list[Section]) -> str:
    """The report as one self-contained HTML page (images embedded)."""
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"]
    out.append(f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>")
    for s in sections:
        out.append(f"<h2>{html.escape(s.title)}</h2>")
        for b in s.blocks:
            if isinstance(b, pd.DataFrame):
                out.append(_html_table(b))
            elif isinstance(b, Path):
                data = base64.b64encode(b.read_bytes()).decode()
                out.append(f"<img alt='{html.escape(b.stem)}' src='data:image/png;base64,{data}'>")
            elif isinstance(b, Code):
                out.append(f"<pre>{html.escape(b.text)}</pre>")
            else:
                text = html.escape(str(b))
                cls = " class='alert'" if text.startswith("ALERT") else ""
                out.append(f"<p{cls}>{text}</p>")
    out.append("</body></html>")
    return "\n".join(out)


def write_text_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

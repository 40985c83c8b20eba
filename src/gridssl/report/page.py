"""Self-contained HTML reports: a claims table (the verdict) first, prose, figures with captions,
and the raw key numbers last, folded in ``<details>``.

Reusable page helpers for any report (analysis, sweep, ablation): :func:`html_page` wraps body
blocks in the page frame (title, style, header); :func:`table_html`, :func:`verdict_table`,
:func:`figures_html`, :func:`details_html`, :func:`section_html` and :func:`paragraphs_html` make
the blocks; :func:`write_page` writes one page atomically.

The file needs nothing else: images are embedded as base64 ``data:`` URIs, the CSS is inline, there
is no JavaScript and no external resource, so it can be mailed, archived or opened offline. All
text is HTML-escaped. The file is written atomically (a temporary file in ``out_dir``, then
``os.replace``).
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from ..io import atomic_write_text

_MIME = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; line-height: 1.45; background: #fff; }
header { border-bottom: 2px solid #3b528b; margin-bottom: 1.5em; }
h1 { color: #3b528b; margin-bottom: 0.2em; }
.meta { color: #666; font-size: 0.9em; margin-top: 0; }
h2 { color: #3b528b; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
table.summary { border-collapse: collapse; font-size: 0.95em; }
table.summary th, table.summary td { border: 1px solid #ccc; padding: 0.25em 0.8em;
       text-align: left; vertical-align: top; }
table.summary th { background: #eef1f8; font-weight: 600; }
table.summary td.value { font-family: Menlo, Consolas, monospace; }
table.summary td.num { text-align: right; }
table.summary tr:nth-child(even) td { background: #fafafa; }
figure { margin: 1.5em 0 2.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 0.95em; color: #333; margin-top: 0.4em; }
figcaption .ftitle { font-weight: 600; }
section p { margin: 0.5em 0; }
table.claims td.yes { color: #1a7f37; font-weight: 600; }
table.claims td.no { color: #b42318; font-weight: 600; }
table.claims td.na { color: #666; }
details { margin-top: 2em; }
details summary { cursor: pointer; color: #3b528b; font-size: 1.2em; font-weight: 600; }
"""


@dataclass(frozen=True)
class Figure:
    """A figure of the report: its title, the image file (PNG, JPEG, GIF, SVG or WebP) and a
    caption (plain text; blank lines separate paragraphs)."""

    title: str
    path: str | os.PathLike
    caption: str = ""


@dataclass(frozen=True)
class Claim:
    """One row of a claims table: the claim, what the paper reports, this network's number and
    whether it holds (True / False; None: not measured, or the verdict ``word`` when it is neither
    yes nor no, e.g. "partly")."""

    claim: str
    paper: str
    measured: str
    holds: bool | None
    word: str = ""


def format_value(value) -> str:
    """A readable string for one summary value: floats to 3 significant figures, integers as is,
    sequences and small arrays element by element, None as an em dash."""
    if value is None:
        return "\u2014"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        v = float(value)
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.3g}"
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return format_value(value.item())
        if value.size > 12:
            return f"array of shape {tuple(value.shape)}"
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def flatten_summary(summary: Mapping, sep: str = " / ") -> list[tuple[str, str]]:
    """Nested dicts -> rows (``"outer / inner"``, formatted value), in insertion order."""
    rows: list[tuple[str, str]] = []

    def walk(d: Mapping, prefix: str) -> None:
        for k, v in d.items():
            key = f"{prefix}{sep}{k}" if prefix else str(k)
            if isinstance(v, Mapping):
                if v:
                    walk(v, key)
                else:
                    rows.append((key, "\u2014"))
            else:
                rows.append((key, format_value(v)))

    walk(summary, "")
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _paragraphs(text: str) -> str:
    """Plain text -> escaped <p> paragraphs (blank lines split paragraphs)."""
    parts = [p.strip() for p in str(text).replace("\r\n", "\n").split("\n\n")]
    return "\n".join(f"<p>{html.escape(p)}</p>" for p in parts if p)


def _data_uri(path: Path) -> str:
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"unsupported image type {path.suffix!r} for {path}")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _resolve(path: str | os.PathLike, out_dir: Path) -> Path:
    p = Path(path)
    if p.is_file():
        return p
    if not p.is_absolute() and (out_dir / p).is_file():
        return out_dir / p
    raise FileNotFoundError(f"figure file not found: {p} (also looked in {out_dir})")


def paragraphs_html(text: str) -> str:
    """Plain text -> escaped ``<p>`` paragraphs (blank lines split paragraphs)."""
    return _paragraphs(text)


def table_html(headers: Sequence[str], rows: Sequence[Sequence], cls: str = "summary") -> str:
    """An escaped table; cells are formatted with :func:`format_value` unless already strings."""
    esc = html.escape
    out = [f'<table class="{esc(cls)}">', "<thead><tr>"]
    out += [f'<th scope="col">{esc(str(h))}</th>' for h in headers]
    out.append("</tr></thead><tbody>")
    for row in rows:
        cells = [v if isinstance(v, str) else format_value(v) for v in row]
        tds = "".join(
            f'<td class="value{" num" if _is_number(c) else ""}">{esc(c)}</td>' for c in cells[1:]
        )
        out.append(f'<tr><th scope="row">{esc(cells[0])}</th>{tds}</tr>')
    out.append("</tbody></table>")
    return "\n".join(out)


def verdict_table(claims: Sequence[Claim]) -> str:
    """The claims table: claim, the paper, this network, and yes / no / not measured."""
    esc = html.escape
    out = [
        '<table class="summary claims">',
        "<thead><tr>"
        + "".join(
            f'<th scope="col">{h}</th>' for h in ("claim", "paper", "this network", "reproduced")
        )
        + "</tr></thead><tbody>",
    ]
    for c in claims:
        cls, word = {True: ("yes", "yes"), False: ("no", "no"), None: ("na", "not measured")}[
            c.holds
        ]
        word = c.word or word
        out.append(
            f'<tr><th scope="row">{esc(c.claim)}</th><td>{esc(c.paper)}</td>'
            f'<td class="value">{esc(c.measured)}</td><td class="{cls}">{word}</td></tr>'
        )
    out.append("</tbody></table>")
    return "\n".join(out)


def figures_html(figures: Sequence[Figure], base_dir: str | os.PathLike = ".") -> str:
    """Embedded figures (base64), numbered, each with its title and caption."""
    esc, base = html.escape, Path(base_dir)
    out = []
    for i, fig in enumerate(figures, start=1):
        src = _data_uri(_resolve(fig.path, base))
        cap = f'<span class="ftitle">Figure {i}. {esc(fig.title)}</span>'
        if fig.caption:
            cap += "\n" + _paragraphs(fig.caption)
        out += ["<figure>", f'<img src="{src}" alt="{esc(fig.title)}">']
        out += [f"<figcaption>{cap}</figcaption>", "</figure>"]
    return "\n".join(out)


def section_html(heading: str, inner: str) -> str:
    """A section: an escaped heading over ready-made HTML."""
    return f"<section><h2>{html.escape(str(heading))}</h2>\n{inner}</section>"


def details_html(label: str, inner: str) -> str:
    """A folded block (``<details>``), opened by clicking ``label``."""
    return f"<details><summary>{html.escape(label)}</summary>\n{inner}\n</details>"


def html_page(title: str, blocks: Sequence[str], generated: str | None = None) -> str:
    """A whole self-contained page: header with ``title`` and time, then ``blocks`` (HTML)."""
    esc = html.escape
    when = generated or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="meta">Generated {esc(when)} by gridssl. Self-contained: every image is '
        "embedded.</p>",
        "</header>",
        *blocks,
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(out)


def write_page(out_dir: str | os.PathLike, name: str, text: str) -> Path:
    """Write ``out_dir/name`` atomically (a page from :func:`html_page`); return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(out / name, text)


def render_report(
    title: str,
    summary: Mapping,
    figures: Sequence[Figure],
    sections: Sequence[tuple[str, str]] | Mapping[str, str] | None = None,
    base_dir: str | os.PathLike = ".",
    generated: str | None = None,
    claims: Sequence[Claim] | None = None,
) -> str:
    """The report as an HTML string (see :func:`write_report`): the claims table, prose sections,
    figures, then the key numbers folded in ``<details>``. Relative figure paths are looked up as
    given and then under ``base_dir``."""
    blocks = []
    if claims:
        blocks.append(section_html("Claims of the paper and this network", verdict_table(claims)))
    items = sections.items() if isinstance(sections, Mapping) else (sections or [])
    blocks += [section_html(h, _paragraphs(t)) for h, t in items]
    if figures:
        blocks.append(section_html("Figures", figures_html(figures, base_dir)))
    rows = flatten_summary(summary)
    numbers = table_html(("quantity", "value"), rows) if rows else "<p>No summary numbers.</p>"
    blocks.append(f"<section>{details_html('Key numbers', numbers)}</section>")
    return html_page(title, blocks, generated)


def write_report(
    out_dir: str | os.PathLike,
    title: str,
    summary: Mapping,
    figures: Sequence[Figure],
    sections: Sequence[tuple[str, str]] | Mapping[str, str] | None = None,
    claims: Sequence[Claim] | None = None,
) -> Path:
    """Write ``out_dir/report.html``: one self-contained HTML file; return its path.

    claims: the verdict table, first; sections: optional prose, (heading, text) pairs or a dict
    heading -> text; figures: embedded in order, each with its title and caption; summary: key
    numbers, last and folded (nested dicts become ``outer / inner`` rows; floats to 3 significant
    figures). Relative figure paths are looked up as given, then under ``out_dir``.
    """
    text = render_report(title, summary, figures, sections, base_dir=out_dir, claims=claims)
    return write_page(out_dir, "report.html", text)

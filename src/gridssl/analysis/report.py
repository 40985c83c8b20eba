"""One self-contained HTML report: a header, a table of key numbers, prose sections and figures.

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
"""


@dataclass(frozen=True)
class Figure:
    """A figure of the report: its title, the image file (PNG, JPEG, GIF, SVG or WebP) and a
    caption (plain text; blank lines separate paragraphs)."""

    title: str
    path: str | os.PathLike
    caption: str = ""


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


def render_report(
    title: str,
    summary: Mapping,
    figures: Sequence[Figure],
    sections: Sequence[tuple[str, str]] | Mapping[str, str] | None = None,
    base_dir: str | os.PathLike = ".",
    generated: str | None = None,
) -> str:
    """The report as an HTML string (see :func:`write_report`); relative figure paths are looked
    up as given and then under ``base_dir``."""
    base = Path(base_dir)
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
    ]
    rows = flatten_summary(summary)
    out.append("<section><h2>Key numbers</h2>")
    if rows:
        out.append('<table class="summary">')
        out.append(
            '<thead><tr><th scope="col">quantity</th><th scope="col">value</th></tr></thead>'
        )
        out.append("<tbody>")
        for key, value in rows:
            cls = "value num" if _is_number(value) else "value"
            out.append(
                f'<tr><th scope="row">{esc(key)}</th><td class="{cls}">{esc(value)}</td></tr>'
            )
        out.append("</tbody></table>")
    else:
        out.append("<p>No summary numbers.</p>")
    out.append("</section>")
    items = sections.items() if isinstance(sections, Mapping) else (sections or [])
    for heading, text in items:
        out.append(f"<section><h2>{esc(str(heading))}</h2>\n{_paragraphs(text)}</section>")
    if figures:
        out.append("<section><h2>Figures</h2>")
        for i, fig in enumerate(figures, start=1):
            src = _data_uri(_resolve(fig.path, base))
            out.append("<figure>")
            out.append(f'<img src="{src}" alt="{esc(fig.title)}">')
            cap = f'<span class="ftitle">Figure {i}. {esc(fig.title)}</span>'
            if fig.caption:
                cap += "\n" + _paragraphs(fig.caption)
            out.append(f"<figcaption>{cap}</figcaption>")
            out.append("</figure>")
        out.append("</section>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def write_report(
    out_dir: str | os.PathLike,
    title: str,
    summary: Mapping,
    figures: Sequence[Figure],
    sections: Sequence[tuple[str, str]] | Mapping[str, str] | None = None,
) -> Path:
    """Write ``out_dir/report.html``: one self-contained HTML file; return its path.

    summary: key numbers (nested dicts become ``outer / inner`` rows; floats to 3 significant
    figures); figures: embedded in order, each with its title and caption; sections: optional
    prose, (heading, text) pairs or a dict heading -> text, placed between the table and figures.
    Relative figure paths are looked up as given, then under ``out_dir``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = render_report(title, summary, figures, sections, base_dir=out)
    dest = out / "report.html"
    return atomic_write_text(dest, text)

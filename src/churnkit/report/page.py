"""What every churnkit HTML page shares: the jinja2 templates, embedded images and the atomic write.

The pages (the training report, the "After the campaign" page) are templates in ``templates/`` (package
data), rendered with autoescape and strict undefined names; images go in as base64 data URIs so each page
is one self-contained file.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
from pathlib import Path

import jinja2

from churnkit.data.io import atomic_path
from churnkit.errors import InputError

__all__ = ["TEMPLATE_DIR", "data_uri", "generated_stamp", "template", "write_page"]

TEMPLATE_DIR = Path(__file__).with_name("templates")
"""Where the page templates (``*.html.j2``) and ``report.css`` live (package data)."""

_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def template(name: str) -> jinja2.Template:
    """The template ``templates/<name>``."""
    return _environment().get_template(name)


def data_uri(name: str, path: str | Path) -> str:
    """The PNG or JPEG file at ``path`` as a data URI; InputError naming image ``name`` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: image {name!r} not found", path=str(path))
    data = path.read_bytes()
    mime = next((m for magic, m in _MAGIC.items() if data.startswith(magic)), None)
    if mime is None:
        raise InputError(f"{path}: image {name!r} is not a PNG or JPEG file", path=str(path))
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def generated_stamp(when: dt.datetime | None = None) -> str:
    """The "generated" time a page shows (now, in UTC, unless given)."""
    return (when or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")


def write_page(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8); returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path

"""Pages without login: the privacy notice (docs/privacy.md) and a health check."""

from __future__ import annotations

import re
import xml.etree.ElementTree as etree
from pathlib import Path
from typing import Any

import markdown
from flask import Blueprint, current_app, render_template
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

from bot import config

bp = Blueprint("public", __name__)
#: docs/privacy.md: MADOGUCHI_PRIVACY_PATH's default (bot.config).
DEFAULT_PRIVACY = config.settings({}).path("MADOGUCHI_PRIVACY_PATH")
_SAFE_URL = re.compile(r"^(https?:|mailto:|tel:|#|/(?!/)|[A-Za-z0-9._-]+(/|$|#))", re.IGNORECASE)


class _SafeLinks(Treeprocessor):
    """Drop link and image targets that are not http(s), mailto, tel or relative (no javascript:)."""

    def run(self, root: etree.Element) -> None:
        for el in root.iter():
            for attr in ("href", "src"):
                value = el.get(attr)
                if value is not None and not _SAFE_URL.match(value.strip()):
                    del el.attrib[attr]
            if el.tag == "a" and (el.get("href") or "").lower().startswith("http"):
                el.set("rel", "noopener noreferrer")


class _SafeMarkdown(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:  # Markdown's API
        # Raw HTML in the file is shown as text, never passed through.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_SafeLinks(md), "safe_links", 0)


def render_markdown(text: str) -> Markup:
    html = markdown.markdown(text, extensions=["tables", "sane_lists", _SafeMarkdown()], output_format="html")
    return Markup(html)  # raw HTML disabled above, links filtered


def privacy_path() -> Path:
    return Path(current_app.config.get("PRIVACY_PATH") or config.settings().path("MADOGUCHI_PRIVACY_PATH"))


@bp.route("/privacy")
def privacy() -> Any:
    path = privacy_path()
    try:
        body: Markup | None = render_markdown(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        body = None
    return render_template("privacy.html", body=body)


@bp.route("/healthz")
def health() -> Any:
    return {"status": "ok"}

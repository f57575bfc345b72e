"""Templates and the filters they use: Jinja2 with autoescaping, markdown without raw HTML."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from modelyard.domain import prompts

if TYPE_CHECKING:
    from jinja2 import Environment
    from markdown_it import MarkdownIt

TEMPLATES = Path(__file__).with_name("templates")

# Jinja2 and markdown-it are imported by the first page rendered (60 ms, once): importing them
# at start made every server's start that much slower, API-only ones included.


@functools.cache
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt

    # "html": False escapes any HTML in descriptions; markdown-it also refuses javascript:,
    # vbscript:, file: and most data: links by default, so rendered text cannot run script.
    return MarkdownIt("commonmark", {"html": False, "linkify": False})


def markdown(text: str | None) -> Markup:
    return Markup(_markdown().render(text or ""))  # safe: html disabled above


def timestamp(ms: int | None) -> str:
    if not ms:
        return ""
    moment = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def filesize(size: int | None) -> str:
    value = float(size or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def web_link(url: str | None) -> str:
    """A link a client recorded (MLflow's `run_link`), only when it is http(s): never a
    `javascript:` or `data:` URL in an href."""
    text = (url or "").strip()
    return text if urlsplit(text).scheme in ("http", "https") else ""


def lineage_entity(entity: Any) -> str:
    """One entity of an `emit-lineage` report, as words: `notebook 1234`, `job 77 (run 9)`."""
    if not isinstance(entity, dict) or not entity:
        return str(entity)
    parts = []
    for kind, detail in entity.items():
        if isinstance(detail, dict):
            ident = detail.get("id", "")
            extra = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in detail.items()
                              if key != "id" and value not in (None, ""))
            parts.append(f"{kind} {ident}" + (f" ({extra})" if extra else ""))
        else:
            parts.append(f"{kind} {detail}")
    return "; ".join(parts)


@functools.cache
def environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES),
                      autoescape=select_autoescape(["html"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters.update(markdown=markdown, timestamp=timestamp, filesize=filesize,
                       shown_tags=prompts.shown_tags, web_link=web_link,
                       lineage_entity=lineage_entity)
    _markdown()
    return env


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render `template` with the signed-in user and the auth mode always available."""
    body = environment().get_template(template).render(
        request=request, user=getattr(request.state, "actor", None),
        auth=request.app.state.settings.auth, notice=request.query_params.get("notice", ""),
        **context)
    return HTMLResponse(body, status_code=status_code,
                        headers={"Cache-Control": "no-store",
                                 "Content-Security-Policy": _CSP,
                                 "X-Content-Type-Options": "nosniff",
                                 "Referrer-Policy": "same-origin",
                                 "X-Frame-Options": "DENY"})


# Everything is served by Modelyard itself: no other origin, no inline script.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")

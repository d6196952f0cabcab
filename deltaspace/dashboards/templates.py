"""The Jinja environment of the report and the pages: autoescaping on, so user text is text."""

from __future__ import annotations

import functools
from urllib.parse import quote

import jinja2


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("deltaspace.dashboards", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["urlpart"] = lambda value: quote(str(value), safe="")
    return env


def render(name: str, **context: object) -> str:
    return environment().get_template(name).render(**context)

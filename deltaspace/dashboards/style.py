"""What every figure shares: safe text, colours, axis titles.

Plotly renders a subset of HTML in titles, legends and hover labels and decodes entities, so user
text (study and method names) goes in escaped: ``<script>`` shows as the characters, never a tag.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
PARAMS_TITLE = "delta parameters (log scale)"
SCORE_TITLE = "score"


def text(value: object) -> str:
    """User text for a plotly label: escaped, newlines as line breaks."""
    return html.escape(str(value)).replace("\n", "<br>")


def colors(labels: Iterable[str]) -> dict[str, str]:
    """A stable colour per label (sorted, palette cycled)."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(sorted(set(labels)))}


def layout(title: str, **extra: object) -> dict[str, object]:
    return {"title": {"text": text(title)}, "template": "plotly_white", "hovermode": "closest", **extra}

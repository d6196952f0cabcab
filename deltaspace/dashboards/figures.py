"""The figure registry: the one place a figure is named (report, API and pages read it).

A figure is built from the trials of one or more studies (``{study name: trials}``); adding one
is a module with its record and drawing functions plus one `register_figure` line here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from deltaspace.space.errors import SpecError, UnknownNameError
from deltaspace.storage.records import TrialRecord

Studies = Mapping[str, Sequence[TrialRecord]]


@dataclass(frozen=True)
class FigureKind:
    name: str
    title: str
    build: Callable[[Studies, str | None], Any]  # (studies, color_by) -> plotly Figure


FIGURES: dict[str, FigureKind] = {}


def register_figure(kind: FigureKind) -> FigureKind:
    if kind.name != kind.name.lower() or kind.name in FIGURES:
        raise SpecError(f"figure name {kind.name!r} must be lowercase and not yet registered")
    FIGURES[kind.name] = kind
    return kind


def _all(studies: Studies) -> list[TrialRecord]:
    return [t for trials in studies.values() for t in trials]


def _pareto(studies: Studies, color_by: str | None) -> Any:
    from .pareto import plot_pareto

    color = color_by or ("study" if len(studies) > 1 else "family")
    return plot_pareto(_all(studies), color, "Pareto front: " + ", ".join(studies))


def _effects(studies: Studies, color_by: str | None) -> Any:
    from .effects import plot_effects

    return plot_effects(_all(studies))


def _hypervolume(studies: Studies, color_by: str | None) -> Any:
    from .hypervolume import plot_hypervolume

    return plot_hypervolume(studies)


def _parallel(studies: Studies, color_by: str | None) -> Any:
    from .parallel import plot_parallel

    return plot_parallel(_all(studies))


for _kind in (
    FigureKind("pareto", "Pareto front", _pareto),
    FigureKind("effects", "Effect of each design dimension", _effects),
    FigureKind("hypervolume", "Hypervolume", _hypervolume),
    FigureKind("parallel", "Sampled values against score", _parallel),
):
    register_figure(_kind)


def build_figure(name: str, studies: Studies, color_by: str | None = None) -> Any:
    """The plotly figure ``name`` of ``studies``."""
    if name not in FIGURES:
        raise UnknownNameError(f"unknown figure {name!r}; figures: {', '.join(FIGURES)}")
    return FIGURES[name].build(studies, color_by)

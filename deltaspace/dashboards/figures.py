"""The figure registry: the one place a figure is named (report, API and pages read it).

A figure is built from one or more studies (`StudyTrials`: trials, objectives, budget) and the
viewer's `FigureOptions`; adding one is a module with its record and drawing functions plus one
`register_figure` line here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from deltaspace.space.errors import SpecError, UnknownNameError

from .records import StudyTrials


@dataclass(frozen=True)
class FigureOptions:
    """What a viewer chose: the colour groups of the front, and a band of the backbone's
    percent (``[low, high)``) the design-space figures keep."""

    color_by: str | None = None
    band: tuple[float, float] | None = None


@dataclass(frozen=True)
class FigureKind:
    name: str
    title: str
    build: Callable[[Sequence[StudyTrials], FigureOptions], Any]  # -> plotly Figure
    options: tuple[str, ...] = ()  # the FigureOptions fields the page offers for it


FIGURES: dict[str, FigureKind] = {}


def register_figure(kind: FigureKind) -> FigureKind:
    if kind.name != kind.name.lower() or kind.name in FIGURES:
        raise SpecError(f"figure name {kind.name!r} must be lowercase and not yet registered")
    FIGURES[kind.name] = kind
    return kind


def _pareto(studies: Sequence[StudyTrials], options: FigureOptions) -> Any:
    from .pareto import pareto_figure, pareto_record

    color = options.color_by or ("study" if len(studies) > 1 else "family")
    title = "Pareto front: " + ", ".join(s.name for s in studies)
    return pareto_figure(pareto_record(studies, color), title)


def _edf(studies: Sequence[StudyTrials], options: FigureOptions) -> Any:
    from .design_space import edf_figure, edf_record

    return edf_figure(edf_record(studies, band=options.band))


def _effects(studies: Sequence[StudyTrials], options: FigureOptions) -> Any:
    from .effects import effects_figure, effects_record

    return effects_figure(effects_record(studies, band=options.band))


def _hypervolume(studies: Sequence[StudyTrials], options: FigureOptions) -> Any:
    from .hypervolume import plot_hypervolume

    return plot_hypervolume({s.name: s.trials for s in studies})


def _parallel(studies: Sequence[StudyTrials], options: FigureOptions) -> Any:
    from .parallel import plot_parallel

    return plot_parallel([t for s in studies for t in s.trials])


for _kind in (
    FigureKind("pareto", "Pareto front", _pareto, ("color_by",)),
    FigureKind("edf", "Design space: score distribution per dimension value", _edf, ("band",)),
    FigureKind("effects", "Marginal effect of each dimension value (95% interval)", _effects, ("band",)),
    FigureKind("hypervolume", "Hypervolume", _hypervolume),
    FigureKind("parallel", "Sampled values against score", _parallel),
):
    register_figure(_kind)


def build_figure(name: str, studies: Sequence[StudyTrials], options: FigureOptions | None = None) -> Any:
    """The plotly figure ``name`` of ``studies``."""
    if name not in FIGURES:
        raise UnknownNameError(f"unknown figure {name!r}; figures: {', '.join(FIGURES)}")
    return FIGURES[name].build(studies, options or FigureOptions())

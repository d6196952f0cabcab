"""The sampler registry: a study file names one (``search: {sampler: tpe}``), options pass through.

Every constrained sampler (tpe, nsga2, gp) reads the budget verdict that workers set on each
trial (``Trial.set_constraint``), so over-budget points steer the search away untrained. ``tpe``
is multivariate over groups of parameters that occur together (the conditional space of arms and
slots), multi-objective, and uses the constant liar so that parallel workers spread out. ``gp``
(Optuna's Gaussian-process sampler) models only the parameters every trial shares and samples the
conditional ones at random; so does ``nsga2``, which evolves only the shared ones (on the
30-point space of bench/hypervolume.py it kept to a few arms and did worse than random search).
``grid`` walks every point of the space once (see ``validate.py``: ranges are refused).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..space.errors import UnknownNameError
from .errors import SearchError
from .optuna_quiet import quiet_optuna

if TYPE_CHECKING:
    from optuna.samplers import BaseSampler

GRID_PARAM = "grid_point"


@dataclass(frozen=True)
class SamplerArgs:
    options: dict[str, Any]
    seed: int | None
    grid_size: int | None = None


SamplerFactory = Callable[[SamplerArgs], "BaseSampler"]
_SAMPLERS: dict[str, SamplerFactory] = {}


def register_sampler(name: str) -> Callable[[SamplerFactory], SamplerFactory]:
    """Register a sampler factory; refuses names that are not lowercase, and duplicates."""

    def wrap(factory: SamplerFactory) -> SamplerFactory:
        if name != name.lower() or not name.replace("_", "").isalnum() or name in _SAMPLERS:
            raise ValueError(f"sampler name {name!r} is not lowercase, or is taken")
        _SAMPLERS[name] = factory
        return factory

    return wrap


def sampler_names() -> list[str]:
    return list(_SAMPLERS)


def make_sampler(name: str, args: SamplerArgs) -> BaseSampler:
    """The sampler ``name`` built with ``args``; an unknown name or option is a SearchError."""
    if name not in _SAMPLERS:
        raise UnknownNameError(f"search.sampler: unknown sampler {name!r}; known: {', '.join(_SAMPLERS)}")
    try:
        with quiet_optuna():  # TPE's group option is marked experimental
            return _SAMPLERS[name](args)
    except (TypeError, ValueError) as exc:
        raise SearchError(f"search.sampler: {name} does not accept options {args.options}: {exc}") from None


@register_sampler("tpe")
def _tpe(a: SamplerArgs) -> BaseSampler:
    from optuna.samplers import TPESampler

    defaults = {"multivariate": True, "group": True, "constant_liar": True}
    return TPESampler(**{**defaults, **a.options}, seed=a.seed)


@register_sampler("nsga2")
def _nsga2(a: SamplerArgs) -> BaseSampler:
    from optuna.samplers import NSGAIISampler

    return NSGAIISampler(**a.options, seed=a.seed)


@register_sampler("random")
def _random(a: SamplerArgs) -> BaseSampler:
    from optuna.samplers import RandomSampler

    return RandomSampler(**a.options, seed=a.seed)


@register_sampler("gp")
def _gp(a: SamplerArgs) -> BaseSampler:
    from optuna.samplers import GPSampler

    options = {"warn_independent_sampling": False, **a.options}
    return GPSampler(**options, seed=a.seed)


@register_sampler("grid")
def _grid(a: SamplerArgs) -> BaseSampler:
    from optuna.samplers import GridSampler

    class AskTellGridSampler(GridSampler):
        """Optuna's GridSampler calls ``Study.stop`` once the grid is visited, which only works inside
        ``Study.optimize``; workers here use ask/tell and stop at the grid's size themselves."""

        def after_trial(self, *args: Any, **kwargs: Any) -> None:
            return None

    if a.grid_size is None:
        raise ValueError("the grid sampler needs the enumerated space")
    return AskTellGridSampler({GRID_PARAM: list(range(a.grid_size))}, **a.options, seed=a.seed)

"""What a functional form is, declared once: `FormInfo`.

Everything the space knows about a form lives in its declaration (one file per form in this
package): the sites it acts on, what ``size`` means, its published defaults, the optional fields it
reads and its own clash rules, its exact trainable / stored / shared counts, whether it merges, its
learning-rate range and its peft tuner. The `Literal` of forms, the CLI listing, the sampler's
conditions, the learning-rate defaults and the test matrix are derived from the registry
(``deltaspace.space.forms.FORMS``); the torch module that builds a form is registered beside it in
``deltaspace.methods.forms`` under the same name, and a test fails when either side lacks a piece.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..delta import DeltaSpec

# Optional DeltaSpec fields that only some forms read (the form lists them in ``reads``).
FORM_FIELDS = ("activation", "fraction", "penalty", "projection", "structured", "seed", "phm_dim")


@dataclass(frozen=True)
class LearningRate:
    """A log-uniform AdamW learning-rate range and the rate a single run uses when it names none."""

    low: float
    high: float
    default: float

    def __post_init__(self) -> None:
        if not 0 < self.low <= self.default <= self.high:
            raise ValueError(f"learning-rate range needs 0 < low <= default <= high, got {self}")


@dataclass(frozen=True)
class SiteShape:
    """One site as accounting sees it: the width the delta reads (``i``) and writes (``o``), the
    kind of site, and the attention sizes of the model (for per-head forms)."""

    i: int
    o: int
    kind: str
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int


def _no_problems(delta: DeltaSpec, kind: str) -> list[str]:
    return []


def _no_group(delta: DeltaSpec) -> tuple[object, ...] | None:
    return None


def _nothing_shared(delta: DeltaSpec, sites: int) -> int:
    return 0


def never(delta: DeltaSpec, kind: str) -> bool:
    return False


def always(delta: DeltaSpec, kind: str) -> bool:
    return True


def at_weight(delta: DeltaSpec, kind: str) -> bool:
    """True at a projection's weight: an explicit ΔW there merges into W and updates it."""
    return kind == "weight"


PeftDecision = tuple[str | None, str]
"""(the peft tuner that represents a delta, or None, and why not)."""


def ungated_tuner(tuner: str, shown: str) -> Callable[[DeltaSpec, str], PeftDecision]:
    """The peft decision of a weight-level form whose peft tuner ``tuner`` (``shown`` in messages:
    LoHa, LoKr, VeRA) adds its update as peft does, and so has no gated composition."""

    def decide(delta: DeltaSpec, kind: str) -> PeftDecision:
        if delta.composition == "gated":
            return None, f"{delta.form} at {delta.position}: peft's {shown} has no gated composition"
        return tuner, ""

    return decide


@dataclass(frozen=True)
class FormInfo:
    """One functional form of Δh (or of ΔW, for weight-level forms).

    * ``sites``: kinds of position it acts on (``heads``, ``sublayer``, ``weight``, ``hidden``,
      ``embeddings``); ``size``: what ``size`` means, None for forms without one;
    * ``defaults``: DeltaSpec fields a user may leave out (the published choices);
    * ``insertions``: the insertion forms it accepts, empty when it reads neither x nor h (then
      ``no_insertion`` says why); ``compositions``: the composition functions it accepts (else
      ``composition_clash`` says why); ``inits``: accepted initialisations (else ``init_clash``);
    * ``reads``: the optional fields of ``FORM_FIELDS`` it reads; ``requires``: those it needs set;
    * ``problems(delta, kind)``: its own clash rules, each phrased 'fields: why';
    * ``per_site(delta, shape)``: trainable elements at one site; ``stored(delta, shape)``: (values,
      integer indices) export writes per site (default: what trains); ``group_key`` and ``shared``:
      a parameter block shared by every site of a group (intrinsic θ_d), counted once;
    * ``merges(delta, kind)``: whether the form is affine in the layer input there (then, with a
      linear composition, it folds into W);
    * ``learning_rate``; ``peft(delta, kind)``: the peft tuner, or None and why;
    * ``example``: the fields (besides ``form``) of a small valid delta, which the test matrix
      builds into every family;
    * ``weight_level``: it changes W itself (W' = W + ΔW) and reads W, not h;
    * ``weight_update(delta, kind)``: its Δh is x ΔWᵀ for an explicit ΔW of the site's projection,
      so it also accepts the weight-level compositions (DoRA's ``decomposed``);
    * ``reads_input``: at a projection it changes the projection's input x (OFT's x R), not h.
    """

    name: str
    formula: str
    source: str
    sites: tuple[str, ...]
    size: str | None
    defaults: Mapping[str, Any]
    insertions: tuple[str, ...]
    compositions: tuple[str, ...]
    per_site: Callable[[DeltaSpec, SiteShape], int]
    merges: Callable[[DeltaSpec, str], bool]
    learning_rate: LearningRate
    peft: Callable[[DeltaSpec, str], PeftDecision]
    example: Mapping[str, Any] = field(default_factory=dict)
    composition_clash: str = ""
    no_insertion: str = ""
    init_clash: str = ""
    inits: tuple[str, ...] = ("zero", "normal")
    reads: frozenset[str] = frozenset()
    requires: Mapping[str, str] = field(default_factory=dict)
    problems: Callable[[DeltaSpec, str], list[str]] = _no_problems
    stored: Callable[[DeltaSpec, SiteShape], tuple[int, int]] | None = None
    group_key: Callable[[DeltaSpec], tuple[object, ...] | None] = _no_group
    shared: Callable[[DeltaSpec, int], int] = _nothing_shared
    weight_level: bool = False
    weight_update: Callable[[DeltaSpec, str], bool] = never
    reads_input: bool = False

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.lower() or not self.name.replace("_", "").isalnum():
            raise ValueError(f"form name {self.name!r} must be lowercase letters, digits and '_'")
        unknown = (self.reads | set(self.requires)) - set(FORM_FIELDS)
        if unknown:
            raise ValueError(f"form {self.name!r} reads unknown fields {sorted(unknown)}")
        if not set(self.requires) <= self.reads:
            raise ValueError(f"form {self.name!r} requires fields it does not read")
        if not self.example.get("position"):
            raise ValueError(f"form {self.name!r} needs an example delta with a position")
        if self.defaults.get("composition", "add") not in self.compositions:
            raise ValueError(f"form {self.name!r}: its default composition is not one it accepts")


def kept_entries(fraction: float, entries: int) -> int:
    """How many of a matrix's ``entries`` a sparse delta keeps: ``fraction`` of them, rounded, at least 1."""
    return max(1, round(fraction * entries))


def weight_level_problems(delta: DeltaSpec, kind: str) -> list[str]:
    """The clash every weight-level form shares: it reads W, never the input's dropout."""
    if delta.dropout:
        return [
            f"dropout={delta.dropout} clashes with form={delta.form!r}: a weight-level delta reads no input"
        ]
    return []


def no_peft(reason: str) -> Callable[[DeltaSpec, str], PeftDecision]:
    """An export decision for forms peft has no tuner for: always None, with ``reason``."""

    def decide(delta: DeltaSpec, kind: str) -> PeftDecision:
        return None, f"{delta.form} at {delta.position}: {reason}"

    return decide


WEIGHT_LEVEL = {
    "no_insertion": "a weight-level delta changes W itself (W' = W + ΔW), so it has no insertion form "
    "(leave insertion out)",
    "composition_clash": "a weight-level delta is added to the weight, W' = W + ΔW",
    "init_clash": "a weight-level delta starts at ΔW = 0",
    "inits": ("zero",),
    "insertions": (),
    "compositions": ("add",),
    "weight_level": True,
    "merges": always,
}
"""The fields every weight-level declaration shares (spread into its FormInfo)."""

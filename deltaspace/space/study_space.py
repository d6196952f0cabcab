"""The search space of a study: dimensions, delta slots and method arms, as validated data.

Any field of a slot (and any training setting) is one of

* a fixed value (``insertion: parallel``): the dimension is pinned, nothing is sampled;
* a list or ``{choices: [...]}``: a categorical dimension (``form: [bottleneck, low_rank]``);
* ``{low, high, log, step}``: an int range (``size: {low: 8, high: 256, log: true}``) or a float
  range (``lr: {low: 1.0e-4, high: 3.0e-3, log: true}``);
* a mapping from functional form to one of the above (``size: {prefix: [10, 30], bottleneck: [64, 256]}``),
  a conditional dimension sampled under its own name for each form.

``layers`` and ``trainable`` take lists as values (``layers: [0, 1]`` pins two layers), so their
choices are written ``{choices: [...]}``. Which fields a form reads (prefix forms have a length,
bottlenecks an activation, only ``scaled`` compositions a scale) is decided in
``deltaspace.search.space_sampling``, so a slot may name fields some of its forms ignore.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .delta import DeltaSpec
from .dimensions import Form, Trainable
from .scalars import Int

FORMS: tuple[str, ...] = get_args(Form)


class StrictModel(BaseModel):
    """Frozen, and an unknown field is an error that lists the allowed ones."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [k for k in data if k not in cls.model_fields]
            if unknown:
                raise ValueError(
                    f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                    f"allowed: {', '.join(cls.model_fields)}"
                )
        return data


class Choices(StrictModel):
    """A categorical dimension."""

    choices: tuple[Any, ...] = Field(min_length=1)


class IntRange(StrictModel):
    """Integers from ``low`` to ``high`` inclusive; ``log`` samples uniformly in log space."""

    low: int
    high: int
    log: bool = False
    step: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.low > self.high:
            raise ValueError(f"low={self.low} must not exceed high={self.high}")
        if self.log and (self.low < 1 or self.step != 1):
            raise ValueError("a log range needs low >= 1 and step 1")
        return self


class FloatRange(StrictModel):
    """Reals from ``low`` to ``high``; ``log`` samples uniformly in log space."""

    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        if self.low > self.high:
            raise ValueError(f"low={self.low} must not exceed high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


Dim = Any
"""A fixed value, `Choices`, `IntRange` or `FloatRange` (see the module docstring)."""


def _value_type(field: str) -> Any:
    """What one value of a DeltaSpec field may be (sizes positive: a size is never left to chance)."""
    if field == "size":
        return Annotated[Int, Field(ge=1)]
    info = DeltaSpec.model_fields[field]
    return Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation


def _range_kind(field: str) -> str | None:
    """'int' or 'float' for numeric DeltaSpec fields (they take ranges), None for categorical ones."""
    annotation = DeltaSpec.model_fields[field].annotation
    kinds = {int: "int", float: "float"}
    for t in (annotation, *get_args(annotation)):
        if get_origin(t) is Annotated:  # Int / Float: a number type with a validator attached
            t = get_args(t)[0]
        if t in kinds:
            return kinds[t]
    return None


# Every DeltaSpec field is a slot field; their values are checked one by one against its type.
_ADAPTERS = {name: TypeAdapter(_value_type(name)) for name in DeltaSpec.model_fields}
_ADAPTERS["trainable"] = TypeAdapter(tuple[Trainable, ...])
_RANGE_KIND = {name: _range_kind(name) for name in DeltaSpec.model_fields}
_LIST_VALUED = ("layers", "trainable")


def check_value(field: str, value: Any) -> Any:
    """``value`` validated as one value of ``field``; the error names what is allowed."""
    adapter = _ADAPTERS.get(field)
    if adapter is None:
        return value
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        msg = exc.errors()[0]["msg"]
        raise ValueError(f"got {value!r}: {msg[0].lower()}{msg[1:]}") from None
    return value


def parse_dim(field: str, value: Any, range_kind: str | None = None) -> Dim:
    """A YAML value as a dimension of ``field``: fixed, `Choices`, or a range."""
    if isinstance(value, Choices | IntRange | FloatRange):
        return value
    if isinstance(value, dict) and {"low", "high"} & value.keys():
        kind = range_kind or _RANGE_KIND.get(field)
        if kind is None and field in _RANGE_KIND:
            raise ValueError(f"{field} is categorical: list its values instead of a range")
        ints = all(
            isinstance(value.get(k), int) and not isinstance(value.get(k), bool) for k in ("low", "high")
        )
        built = IntRange(**value) if (kind or ("int" if ints else "float")) == "int" else FloatRange(**value)
        for bound in (built.low, built.high):
            check_value(field, bound)
        return built
    if isinstance(value, dict) and "choices" in value:
        choices = Choices(**value)
        return Choices(choices=tuple(check_value(field, v) for v in choices.choices))
    if isinstance(value, list) and field not in _LIST_VALUED:
        return Choices(choices=tuple(check_value(field, v) for v in value))
    return check_value(field, tuple(value) if isinstance(value, list) else value)


class Slot(StrictModel):
    """One delta of a free combination (or the overrides of one delta of a preset).

    ``optional: true`` makes the slot's presence a dimension too. Fields left out take the
    DeltaSpec default of the sampled form (He et al.'s published choices).
    """

    optional: bool = False
    # one per DeltaSpec field (a test keeps the two lists equal)
    form: Dim = None
    position: Dim = None
    insertion: Dim = None
    composition: Dim = None
    gate: Dim = None
    scale: Dim = None
    learn_scale: Dim = None
    activation: Dim = None
    size: Dim = None
    heads: Dim = None
    layers: Dim = None
    stack: Dim = None
    init: Dim = None
    dropout: Dim = None
    fraction: Dim = None
    penalty: Dim = None
    projection: Dim = None
    structured: Dim = None
    seed: Dim = None
    phm_dim: Dim = None
    where_present: Dim = None

    @field_validator("*", mode="before")
    @classmethod
    def _dims(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name == "optional" or value is None:
            return value
        is_per_form = isinstance(value, dict) and value and set(value) <= set(FORMS)
        if is_per_form and info.field_name != "form":
            return {form: parse_dim(info.field_name, v) for form, v in value.items()}
        return parse_dim(info.field_name, value)

    def dim_for(self, field: str, form: str) -> tuple[Dim, str]:
        """The dimension of ``field`` under ``form`` and the suffix of its parameter name."""
        dim = getattr(self, field)
        if isinstance(dim, dict):
            return dim.get(form), f"{form}.{field}"
        return dim, field


class Arm(StrictModel):
    """One way to build a method: a preset (with optional size dimensions) or free slots.

    ``size`` sets every sized delta of a preset at once (LoRA's two ranks move together);
    ``deltas`` overrides single deltas of the preset by index; ``slots`` builds a free
    combination instead; ``trainable`` names the backbone groups trained besides the deltas.
    """

    preset: str | None = None
    size: Dim = None
    deltas: dict[int, Slot] = Field(default_factory=dict)
    slots: tuple[Slot, ...] = ()
    trainable: Dim = None

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return None if value is None else parse_dim("size", value)

    @field_validator("trainable", mode="before")
    @classmethod
    def _trainable(cls, value: Any) -> Any:
        return None if value is None else parse_dim("trainable", value)

    @model_validator(mode="after")
    def _one_kind(self) -> Arm:
        if self.slots and (self.preset or self.deltas or self.size is not None):
            raise ValueError("an arm is either a preset (preset/size/deltas) or free slots, not both")
        missing = [i for i, slot in enumerate(self.slots) if slot.form is None]
        if missing:
            raise ValueError(f"slots {missing}: a free slot needs a form ({', '.join(FORMS)})")
        return self

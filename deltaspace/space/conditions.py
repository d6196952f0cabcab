"""When a DeltaSpec field means something, given the fields chosen before it: derived from the
registries, for samplers that walk a space field by field.

``APPLIES[field](fields)`` is True when the form (and composition) in ``fields`` reads ``field``:
an insertion only where a form accepts more than one, a composition likewise, a gate only for a
gated composition whose form has no gate of its own (prefix attention's λ(x)), a scale only for a
scaled composition, a size only for sized forms, and each optional field only for the forms that
declare they read it. Fields absent here always apply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .compositions import COMPOSITIONS, GATES
from .forms import FORM_FIELDS, FORMS


def composition_of(fields: dict[str, Any]) -> str:
    """The composition in ``fields``, or the form's default."""
    return fields.get("composition") or FORMS[fields["form"]].defaults["composition"]


def _reads(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: name in FORMS[f["form"]].reads


def _own_gate(form: str) -> bool:
    return any(g.forms is not None and form in g.forms for g in GATES.values())


APPLIES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "insertion": lambda f: len(FORMS[f["form"]].insertions) > 1,
    "composition": lambda f: len(FORMS[f["form"]].compositions) > 1,
    "gate": lambda f: composition_of(f) == "gated" and not _own_gate(f["form"]),
    "scale": lambda f: COMPOSITIONS[composition_of(f)].scaled,
    "learn_scale": lambda f: COMPOSITIONS[composition_of(f)].scaled,
    "size": lambda f: FORMS[f["form"]].size is not None,
    **{name: _reads(name) for name in FORM_FIELDS},
}

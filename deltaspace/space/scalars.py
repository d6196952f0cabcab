"""Numbers that refuse booleans.

Pydantic's lax mode reads ``true`` as 1 for an ``int`` field and 1.0 for a ``float``, so
``size: true`` in a method file silently became a rank of 1. Every numeric field of a spec uses
these types instead, and YAML's ``true``/``false`` there is an error naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator


def _refuse_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


Int = Annotated[int, BeforeValidator(_refuse_bool)]
Float = Annotated[float, BeforeValidator(_refuse_bool)]

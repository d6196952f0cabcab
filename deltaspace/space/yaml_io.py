"""YAML in and out for methods, with ``preset:`` inheritance.

A method file is either a full MethodSpec::

    name: my_method
    deltas:
      - {form: prefix, position: attn_heads, size: 16}
      - {form: bottleneck, position: ffn_output, insertion: parallel, composition: scaled, scale: 4, size: 256}

or starts from a preset and overrides fields; ``deltas`` is then either a list (replacing the
preset's) or a mapping from delta index to the fields to change::

    preset: mam
    name: mam_small
    deltas:
      1: {size: 128}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import SpecError
from .method import MethodSpec


def method_to_yaml(spec: MethodSpec) -> str:
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)


def read_yaml_mapping(text_or_path: str | Path) -> dict[str, Any]:
    """Parse a YAML mapping from a file path or YAML text; errors name the file and line."""
    source = str(text_or_path)
    path = Path(source)
    is_file = "\n" not in source and len(source) < 4096 and path.suffix in (".yaml", ".yml")
    if is_file and not path.exists():
        raise SpecError(f"file not found: {source}")
    text = path.read_text() if is_file else source
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{source if is_file else 'YAML'}: not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise SpecError(
            f"{source if is_file else 'YAML'}: expected a mapping of fields, got {type(data).__name__}"
        )
    return data


def method_from_mapping(data: dict[str, Any]) -> MethodSpec:
    """Validate a mapping into a MethodSpec, resolving ``preset:`` and delta overrides."""
    data = dict(data)
    base_name = data.pop("preset", None)
    if base_name is not None:
        from .presets import preset

        base = preset(str(base_name)).model_dump(mode="json")
        overrides = data.pop("deltas", None)
        if isinstance(overrides, dict):
            deltas = base["deltas"]
            for key, fields in overrides.items():
                if not isinstance(key, int) or not 0 <= key < len(deltas):
                    raise SpecError(
                        f"deltas.{key}: preset {base_name!r} has deltas 0..{len(deltas) - 1}; "
                        "override them by index or give a full list"
                    )
                deltas[key] = {**deltas[key], **fields}
            base["deltas"] = deltas
        elif overrides is not None:
            base["deltas"] = overrides
        base.update(data)
        data = base
    try:
        return MethodSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, "method")) from None


def load_method(text_or_path: str | Path) -> MethodSpec:
    return method_from_mapping(read_yaml_mapping(text_or_path))


def format_validation_error(exc: ValidationError, what: str) -> str:
    """One readable message listing every problem with its field path."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or what
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "literal_error":
            msg = f"got {err['input']!r}; {msg[0].lower()}{msg[1:]}"
        lines.append(f"{loc}: {msg}")
    return f"invalid {what}: " + "; ".join(lines)

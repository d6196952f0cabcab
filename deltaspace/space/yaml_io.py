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


# Limits on every YAML deltaspace reads (method, study and task files, and study bodies posted to
# the service). Real files are a few KB, ten levels deep, with a handful of anchors; the limits
# stop a billion-laughs document (a few anchors expanding to billions of nodes) or a 50 MB file
# before they cost memory or minutes.
MAX_YAML_BYTES = 1_000_000
MAX_YAML_DEPTH = 64
MAX_YAML_ALIASES = 200
MAX_YAML_NODES = 200_000
_NOT_A_PATH = ("\n", "{", ":")


class _YamlLimit(Exception):
    """A limit hit while composing; carries the message and the position."""

    def __init__(self, message: str, mark: Any = None) -> None:
        super().__init__(message)
        self.mark = mark


class _LimitedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that bounds nesting and aliases and refuses duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                mark = self.peek_event().start_mark
                raise _YamlLimit(f"more than {MAX_YAML_ALIASES} aliases (*name)", mark)
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _YamlLimit(f"nested deeper than {MAX_YAML_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:
                    raise _YamlLimit(
                        f"a mapping key must be a plain value, not a {type(key).__name__}",
                        key_node.start_mark,
                    ) from None
                if duplicate:
                    raise _YamlLimit(f"duplicate key {_short(key)!s}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: messages never echo a whole large value."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _expanded_nodes(root: Any) -> int:
    """Nodes the document holds once every alias is expanded (a cycle counts as too many)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if children_done:
            open_nodes.discard(key)
            sizes[key] = min(1 + sum(sizes[id(c)] for c in children), MAX_YAML_NODES + 1)
            continue
        if key in open_nodes:
            return MAX_YAML_NODES + 1  # an alias inside its own anchor
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def parse_yaml(text: str, where: str = "YAML") -> Any:
    """Parse YAML text with limits; every problem is one `SpecError` naming ``where`` and the line.

    Refused: text over ``MAX_YAML_BYTES``, nesting deeper than ``MAX_YAML_DEPTH``, more than
    ``MAX_YAML_ALIASES`` aliases or ``MAX_YAML_NODES`` nodes once aliases are expanded, duplicate
    keys, and anything ``yaml.safe_load`` refuses (no Python objects are ever built)."""
    if len(text) > MAX_YAML_BYTES:
        raise SpecError(
            f"{where}: {len(text) / 1e6:.1f} MB of YAML; deltaspace reads at most {MAX_YAML_BYTES // 1_000_000} MB"
        )
    loader = _LimitedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_nodes(node) > MAX_YAML_NODES:
            raise _YamlLimit(
                f"expands to more than {MAX_YAML_NODES:,} values through its aliases", node.start_mark
            )
        return loader.construct_document(node)
    except _YamlLimit as exc:
        raise SpecError(f"{where}: refused{_at(exc.mark)}: {exc}") from None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(
            f"{where}: not valid YAML{_at(getattr(exc, 'problem_mark', None))}: {problem}"
        ) from None
    except RecursionError:
        raise SpecError(f"{where}: refused: nested too deeply to read") from None
    finally:
        loader.dispose()


def _at(mark: Any) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def read_yaml_file(path: str | Path) -> Any:
    """Read and parse a YAML file: a missing file, a folder, a file that is too large or not UTF-8
    text is one `SpecError` naming the file."""
    path = Path(path)
    if path.is_dir():
        raise SpecError(f"{path}: is a directory; expected a YAML file")
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise SpecError(
                f"{path}: {size / 1e6:.1f} MB; deltaspace reads YAML files of at most "
                f"{MAX_YAML_BYTES // 1_000_000} MB"
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"file not found: {path}") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    return parse_yaml(decode_utf8(raw, str(path)), str(path))


def decode_utf8(raw: bytes, where: str) -> str:
    """UTF-8 text (a UTF-8 byte-order mark is allowed); anything else is one `SpecError`."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SpecError(f"{where}: is UTF-16 text; save it as UTF-8")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{where}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        ) from None


def looks_like_path(text_or_path: str | Path) -> bool:
    """True for a Path, or a one-line string that names an existing file or folder or ends in
    .yaml/.yml; False for YAML text."""
    if isinstance(text_or_path, Path):
        return True
    if any(c in text_or_path for c in _NOT_A_PATH) or len(text_or_path) > 4096:
        return False
    path = Path(text_or_path)
    return path.suffix in (".yaml", ".yml") or path.exists()


def read_yaml_mapping(text_or_path: str | Path) -> dict[str, Any]:
    """Parse a YAML mapping from a file path or YAML text; errors name the file and line."""
    is_file = looks_like_path(text_or_path)
    source = str(text_or_path)
    data = read_yaml_file(source) if is_file else parse_yaml(source)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise SpecError(f"{source if is_file else 'YAML'}: expected a mapping of fields, got {got}")
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
    errors = exc.errors()
    locs = [tuple(err["loc"]) for err in errors]
    for err in errors:
        if any(other[: len(err["loc"])] == tuple(err["loc"]) and other != tuple(err["loc"]) for other in locs):
            continue  # "seeds.0: must be >= 0" says it; "seeds: too short after validation" adds noise
        loc = ".".join(str(p) for p in err["loc"]) or what
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "literal_error":
            msg = f"got {_short(err['input'])}; {msg[0].lower()}{msg[1:]}"
        lines.append(f"{loc}: {msg}")
    return f"invalid {what}: " + "; ".join(lines)

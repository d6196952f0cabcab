"""The example studies the launch page offers as starting points: the YAML files under the
repository's ``examples/`` folder (none when deltaspace is installed without it)."""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import BaseModel, ConfigDict

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MAX_BYTES = 64_000


class Example(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str  # its path under examples/, without .yaml
    yaml: str


@functools.lru_cache(maxsize=1)
def examples(root: Path = EXAMPLES) -> tuple[Example, ...]:
    """Every ``*.yaml`` under ``root`` (small files only), by path."""
    if not root.is_dir():
        return ()
    found = []
    for path in sorted(root.rglob("*.yaml")):
        if path.is_file() and path.stat().st_size <= MAX_BYTES:
            name = path.relative_to(root).with_suffix("").as_posix()
            found.append(Example(name=name, yaml=path.read_text(encoding="utf-8", errors="replace")))
    return tuple(found)

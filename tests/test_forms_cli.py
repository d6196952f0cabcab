"""`deltaspace forms`: the form registry as users see it, derived from the registry itself."""

from __future__ import annotations

import json

import pytest

from deltaspace import cli
from deltaspace.space.forms import FORMS


def test_forms_lists_every_registered_form_with_its_range(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["forms", "--json"])
        raise SystemExit(0)
    assert exit_info.value.code == 0
    rows = {r["form"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows.keys() == FORMS.keys()
    for name, row in rows.items():
        rates = FORMS[name].learning_rate
        assert row["learning_rate"] == {"low": rates.low, "high": rates.high, "default": rates.default}
        assert row["source"] and row["formula"]

"""The ``deltaspace`` command: tables, JSON, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from deltaspace import cli
from deltaspace.methods import apply_method, load_backbone
from deltaspace.space import HeadSpec, preset
from deltaspace.testing.tiny_models import tiny_config


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deltaspace.cli", *args], capture_output=True, text=True)


def test_methods_lists_every_preset() -> None:
    cli._register_optional_commands()
    result = CliRunner().invoke(cli.app, ["methods", "--json"])
    assert result.exit_code == 0
    names = [m["name"] for m in json.loads(result.stdout)]
    assert {"houlsby", "pfeiffer", "prefix", "prompt", "lora", "mam", "unipelt", "ia3", "bitfit"} <= set(
        names
    )


def test_count_json_matches_the_built_model(tmp_path) -> None:
    config = tiny_config("bert")
    config.save_pretrained(tmp_path)
    result = run_cli("count", "mam", "--model", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert {"delta_params", "head_params", "backbone_params", "percent"} <= body.keys()
    model, _ = load_backbone(config, HeadSpec())
    applied = apply_method(model, preset("mam"))
    assert body["delta_params"] + body["head_params"] == applied.trainable_numel()
    assert body["percent"] == pytest.approx(100 * body["delta_params"] / body["backbone_params"])


def test_count_of_a_yaml_method(tmp_path) -> None:
    tiny_config("gpt2").save_pretrained(tmp_path / "m")
    (tmp_path / "x.yaml").write_text("preset: lora\nname: lora4\ndeltas:\n  0: {size: 4}\n  1: {size: 4}\n")
    result = run_cli("count", str(tmp_path / "x.yaml"), "--model", str(tmp_path / "m"))
    assert result.returncode == 0, result.stderr
    assert "lora4" in result.stdout and "delta parameters: 1,024" in result.stdout  # 2 layers*2*4*(32+32)


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (None, "unknown preset 'nope'"),
        (
            "name: x\ndeltas:\n  - {form: low_rank, position: query, size: 4, colour: red}\n",
            "deltas.0.colour: unknown field",
        ),
        (
            "name: x\ndeltas:\n  - {form: prefix, position: cross_attn_heads, size: 4}\n",
            "does not exist in a bert model",
        ),
        (
            "name: x\ndeltas:\n  - {form: low_rank, position: query, size: 0}\n",
            "size=0 must be a positive integer",
        ),
        (
            "name: x\ndeltas:\n  - {form: low_rank, position: query, size: -2}\n",
            "size=-2 must be a positive integer",
        ),
        ("name: x\ndeltas: [[[\n", "not valid YAML"),
    ],
)
def test_bad_input_gives_one_clear_line_and_exit_2(tmp_path, yaml_text, message) -> None:
    tiny_config("bert").save_pretrained(tmp_path / "m")
    method = "nope"
    if yaml_text is not None:
        method = str(tmp_path / "bad.yaml")
        (tmp_path / "bad.yaml").write_text(yaml_text)
    result = run_cli("count", method, "--model", str(tmp_path / "m"))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 3


def test_unknown_model_is_a_clear_error(tmp_path) -> None:
    result = run_cli("count", "lora", "--model", str(tmp_path / "missing"))
    assert (
        result.returncode == 2 and "cannot load model" in result.stderr and "Traceback" not in result.stderr
    )


def test_import_and_help_stay_light() -> None:
    code = (
        "import sys, deltaspace, deltaspace.cli, deltaspace.space;"
        "heavy = [m for m in ('torch', 'transformers', 'ray', 'plotly', 'optuna') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    result = run_cli("--help")
    assert result.returncode == 0 and "count" in result.stdout


def test_commands_register_once_however_often_main_runs(capsys) -> None:
    """Typer appends every registration and rebuilds its click group from all of them per call:
    registering on each ``main`` made the 1,000th in-process call of a test run take seconds."""
    for _ in range(3):
        with pytest.raises(SystemExit):
            cli.main(["db", "--help"])
    commands, groups = len(cli.app.registered_commands), len(cli.app.registered_groups)
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert (len(cli.app.registered_commands), len(cli.app.registered_groups)) == (commands, groups)
    names = [c.name or c.callback.__name__ for c in cli.app.registered_commands]
    assert len(names) == len(set(names))  # no command registered twice
    (db,) = [g for g in cli.app.registered_groups if g.name == "db"]
    db_names = [c.name for c in db.typer_instance.registered_commands]
    assert sorted(db_names) == ["compact", "delete", "upgrade"]
    assert "compact" in capsys.readouterr().out

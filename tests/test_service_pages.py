"""The service's new routes over real HTTP: validating a study without queueing it, the example
studies, trials as CSV, one trial (JSON, learning curve, page), figure options; and that the
validation route keeps the service's rules (same-origin writes, data roots)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import pytest
from dashboard_support import THREE_OBJECTIVES_YAML, fill_study, running_service, three_objective_trials
from fastapi.testclient import TestClient

from deltaspace.dashboards.app import create_app
from deltaspace.dashboards.security import ServicePolicy
from deltaspace.storage import Storage

XSS = "<script>alert(1)</script>"
GOOD = "name: fresh\nmodel: minilm\ntask: sst2\nbudget: {max_steps: 2, n_trials: 3}\nmethods: [lora]\n"


@pytest.fixture
def service(storage_url: str):
    storage = Storage(storage_url)
    fill_study(storage, "done")
    fill_study(
        storage, "three", three_objective_trials(), spec_yaml=THREE_OBJECTIVES_YAML.format(name="three")
    )
    fill_study(storage, XSS, [])
    with running_service(storage_url) as base, httpx.Client(base_url=base, timeout=60) as client:
        yield client


def test_validate_says_what_would_run_and_queues_nothing(service: httpx.Client) -> None:
    ok = service.post("/api/studies/validate", json={"yaml": GOOD})
    assert ok.status_code == 200 and ok.json() == {
        "name": "fresh", "n_trials": 3, "objectives": ["score", "delta_params"],
    }  # fmt: skip
    assert "fresh" not in [s["name"] for s in service.get("/api/studies").json()]
    bad = service.post("/api/studies/validate", json={"yaml": GOOD.replace("[lora]", "[lorra]")})
    assert bad.status_code == 422
    (problem,) = bad.json()["detail"]
    assert problem["path"] == "methods.lorra" and "presets: houlsby, pfeiffer" in problem["msg"]
    taken = service.post("/api/studies/validate", json={"yaml": GOOD.replace("fresh", "done")})
    assert taken.status_code == 422 and taken.json()["detail"][0]["path"] == "name"


def test_examples_are_offered(service: httpx.Client) -> None:
    examples = {e["name"]: e["yaml"] for e in service.get("/api/examples").json()}
    assert "quickstart" in examples and "unified-view/free-space" in examples
    assert examples["quickstart"].startswith("# The quickstart")
    assert 'value="quickstart"' in service.get("/launch").text


def test_trials_csv_download(service: httpx.Client) -> None:
    response = service.get("/api/studies/three/trials.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert 'filename="three-trials.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["number"]) for r in rows] == list(range(10))
    front = {int(r["number"]) for r in rows if r["on_front"] == "True"}
    assert front == {0, 2, 3, 4, 5, 6, 7}  # every trial of a front design (mam's three seeds)
    assert rows[5]["design_score"] == rows[6]["design_score"] and rows[5]["design_seeds"] == "3"
    assert 'href="/api/studies/three/trials.csv"' in service.get("/studies/three").text


def test_csv_cells_never_start_a_formula(tmp_path: Path) -> None:
    from dashboard_support import Planned

    from deltaspace.search.trial_rows import rows_csv, trial_rows
    from deltaspace.space import preset

    storage = Storage(f"sqlite:///{tmp_path / 'f.db'}")
    fill_study(
        storage,
        "f",
        [Planned(preset("lora").model_copy(update={"name": "=HYPERLINK(1)"}), params=1, score=0.5)],
    )
    text = rows_csv(trial_rows(storage.list_trials("f")))
    assert ",'=HYPERLINK(1)," in text and ",=HYPERLINK" not in text


def test_one_trial_as_json_curve_and_page(service: httpx.Client) -> None:
    trial = service.get("/api/studies/three/trials/5").json()
    assert trial["method_name"] == "mam" and trial["seed"] == 0
    curve = service.get("/api/studies/three/trials/5/figures/curve").json()
    lines = [t for t in curve["data"] if t["meta"]["role"] == "curve"]
    assert [(t["meta"]["number"], t["meta"]["seed"]) for t in lines] == [(5, 0), (6, 1), (7, 2)]
    page = service.get("/studies/three/trials/5").text
    assert "0.8800 ± " in page and "(3 seeds)" in page and "on the Pareto front" in page
    assert 'href="/studies/three/trials/6"' in page  # the design's other seeds
    seeds = service.get("/api/studies/three/trials/0/figures/curve").json()  # seeds in one trial
    finals = [t for t in seeds["data"] if t["meta"]["role"] == "finals"]
    assert len(finals) == 1 and sorted(finals[0]["y"]) == [0.80, 0.82]
    assert service.get("/studies/three/trials/99").status_code == 404
    assert service.get("/api/studies/three/trials/99").status_code == 404
    escaped = service.get("/studies/three").text
    assert 'href="/studies/three/trials/4"' in escaped


def test_figure_options_and_their_validation(service: httpx.Client) -> None:
    edf = service.get("/api/studies/done/figures/edf", params={"band": "0.1,1"}).json()
    assert "0.1% to 1%" in edf["layout"]["title"]["text"]
    assert service.get("/api/studies/done/figures/edf", params={"band": "1;DROP"}).status_code == 422
    record = service.get("/api/studies/three/pareto").json()
    assert (
        record["objectives"] == ["score", "delta_params", "latency_ms"] and record["budget_params"] == 40_000
    )
    assert {n for _, n in record["front"]} == {0, 2, 3, 4, 5}
    index = service.get("/").text
    assert "0.8800 ± " in index  # the best design's interval in the studies list


def test_validate_keeps_the_service_rules(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    policy = ServicePolicy(same_origin=True, data_roots=(tmp_path.resolve(),), max_trials=10, max_steps=100)
    with TestClient(
        create_app(url, base_dir=tmp_path, policy=policy), base_url="http://127.0.0.1:8050"
    ) as client:
        evil = client.post(
            "/api/studies/validate", json={"yaml": GOOD}, headers={"origin": "http://evil.example"}
        )
        assert evil.status_code == 403
        outside = client.post("/api/studies/validate", json={"yaml": GOOD + "data_dir: /etc\n"})
        assert outside.status_code == 422 and "data roots" in outside.json()["detail"][0]["msg"]
        too_many = client.post(
            "/api/studies/validate", json={"yaml": GOOD.replace("n_trials: 3", "n_trials: 50")}
        )
        assert too_many.status_code == 422 and "limit of 10" in too_many.json()["detail"][0]["msg"]
        assert client.post("/api/studies/validate", json={"yaml": GOOD}).status_code == 200

"""The Ray executor: a tiny study on a local Ray instance writes the same ``ds_`` records."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from search_support import study_dict

from deltaspace.search.executors import ExecutorOptions
from deltaspace.search.fake_trainer import FakeTrainer
from deltaspace.search.study_runner import run_study
from deltaspace.space.study import study_from_mapping
from deltaspace.storage import Storage

pytestmark = pytest.mark.ray


@pytest.fixture
def local_ray() -> Iterator[None]:
    """A small local Ray instance (the executor joins one that is running instead of starting its own)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    yield
    ray.shutdown()


def test_ray_executor_runs_a_study_into_sql(local_ray: None, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'ds.db'}"
    study = study_dict(
        "on-ray", "minilm", None, budget={"n_trials": 4, "max_delta_params": 200_000},
        methods={"lora": {"size": [2, 4, 64]}}, search={"sampler": "random", "pruner": "median"},
    )  # fmt: skip
    options = ExecutorOptions(workers=2, trainer=FakeTrainer(seconds=0.2))
    run_study(study_from_mapping(study), url, "ray", options)
    storage = Storage(url)
    trials = storage.list_trials("on-ray")
    assert len(trials) == 4 and len({t.number for t in trials}) == 4
    assert {t.status for t in trials} <= {"complete", "pruned", "infeasible"}
    complete = [t for t in trials if t.status == "complete"]
    assert complete and all(t.score is not None and t.worker_pid for t in complete)
    assert all(t.status == "infeasible" for t in trials if t.params["lora.size"] == 64)  # 589,824 > 200,000
    assert storage.get_study("on-ray").status == "complete"


def test_ray_executor_promotes_rung_by_rung(local_ray: None, tmp_path) -> None:
    """Rung 0 as Tune trials, the promoted rungs as Ray tasks: the same rows as local workers."""
    url = f"sqlite:///{tmp_path / 'ds.db'}"
    study = study_dict(
        "promoted-on-ray", "minilm", None, budget={"n_trials": 6, "max_steps": 16},
        search={"sampler": "random", "promotion": {"rungs": [4, 16], "eta": 3}},
    )  # fmt: skip
    run_study(study_from_mapping(study), url, "ray", ExecutorOptions(workers=2, trainer=FakeTrainer(seconds=0.1)))
    storage = Storage(url)
    rows = storage.list_rungs("promoted-on-ray")
    assert len([r for r in rows if r.rung == 0]) == 6
    (decision,) = storage.promotions("promoted-on-ray")
    top = [r for r in rows if r.rung == 1]
    assert sorted(r.number for r in top) == decision.chosen and len(top) == 2
    assert all(r.status == "complete" and r.attempts == 1 and r.result.metrics["resumed_from_step"] > 0 for r in top)
    assert storage.get_study("promoted-on-ray").status == "complete"

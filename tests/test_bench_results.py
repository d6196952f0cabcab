"""The results page's judgements (bench/make_results.py): verdicts, the majority-class floor,
dominance of free combinations over presets, all from stored trials."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

from deltaspace.space import preset, preset_names
from deltaspace.storage import Storage
from deltaspace.trainers.result import EvalPoint, TrialResult

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="module")
def results():
    spec = importlib.util.spec_from_file_location("make_results", ROOT / "bench" / "make_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _labels(task: str) -> list[int]:
    return [json.loads(line)["label"] for line in (DATA / task / "validation.jsonl").read_text().splitlines()]


@pytest.mark.skipif(not (DATA / "mrpc").exists(), reason="needs ../shared/data")
def test_majority_baseline_matches_hand_computed_scores(results):
    sst2 = _labels("sst2")
    assert results.majority_baseline("sst2") == pytest.approx(Counter(sst2).most_common(1)[0][1] / len(sst2))
    # MRPC: always "paraphrase" (1): recall 1, precision = accuracy = share of positives
    mrpc = _labels("mrpc")
    p = sum(mrpc) / len(mrpc)
    assert p > 0.5
    assert results.majority_baseline("mrpc") == pytest.approx((2 * p / (1 + p) + p) / 2)
    assert results.majority_baseline("cola") == pytest.approx(0.0)  # a constant has no correlation
    # MNLI is scored on its held-out slice of train (the task's own validation file)
    mnli = [json.loads(line)["label"] for line in (DATA / "mnli" / "train_subset_heldout.jsonl").read_text().splitlines()]
    assert results.majority_baseline("mnli") == pytest.approx(Counter(mnli).most_common(1)[0][1] / len(mnli))


@pytest.mark.parametrize(
    ("a", "b", "floor", "short"),
    [
        ([0.80, 0.81, 0.82], [0.70, 0.71, 0.72], 0.5, "reproduced"),
        # +1 point on every seed: the seeds' spread (±5) is shared, the paired difference is not noise
        ([0.80, 0.75, 0.85], [0.79, 0.74, 0.84], 0.5, "reproduced"),
        ([0.80, 0.75, 0.85], [0.79, 0.77, 0.83], 0.5, "within noise"),  # +1, -2, +2
        ([0.60, 0.61, 0.62], [0.80, 0.81, 0.82], 0.5, "**reversed**"),
        ([0.78, 0.74, 0.84], [0.80, 0.74, 0.84], 0.5, "not reproduced"),
        ([0.0, 0.0, 0.0], [0.0, 0.001, 0.0], 0.0, "no verdict"),
        ([0.8], [0.7], None, "same direction (1 seed)"),
        ([], [0.7], None, "not run"),
    ],
)
def test_verdicts(results, a, b, floor, short):
    by_seed = dict(enumerate(a)), dict(enumerate(b))
    assert results.verdict(*by_seed, floor)[0] == short


def test_a_verdict_pairs_seeds_and_quotes_scipys_interval(results):
    """The interval quoted is scipy's t-interval of the per-seed differences, on shared seeds only."""
    from scipy import stats

    a, b = {0: 0.81, 1: 0.78, 2: 0.84, 7: 0.10}, {0: 0.80, 1: 0.75, 2: 0.80}
    diffs = [a[s] - b[s] for s in (0, 1, 2)]
    mean, sem = sum(diffs) / 3, stats.sem(diffs)
    low, high = stats.t.interval(0.95, 2, loc=mean, scale=sem)
    short, long, numbers = results.verdict(a, b, 0.5)
    assert f"[{100 * low:+.1f}, {100 * high:+.1f}]" in long and "n=3 seeds" in long
    assert numbers == f"{100 * mean:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"
    assert short == ("reproduced" if low > 0 else "within noise")


def test_describe_names_every_dimension(results):
    mam = json.loads(preset("mam").canonical_json())
    line = results.describe(mam)
    assert line.startswith("prefix@attn_heads")
    assert "bottleneck@ffn_output parallel scaled s=4 r=512" in line
    assert results.describe({"deltas": []}) == "head only"


def _store(storage: Storage, study: str, number: int, name: str, seed: int, score: float, params: int) -> None:
    base = name.split("@")[0]
    body = preset(base if base in preset_names() else "lora").canonical_json()
    storage.start_trial(study, number, method_name=name, method_json=body,
                        method_hash=f"{number:064d}", params={}, training={"max_steps": 100}, seed=seed,
                        worker_host="h", worker_pid=1)
    storage.finish_trial(study, number, TrialResult(status="complete", score=score, delta_params=params,
                                                    percent=100 * params / 22_713_216))


def test_pages_from_stored_trials(results, tmp_path, monkeypatch):
    monkeypatch.setattr(results, "FIGURES", tmp_path / "figures")  # not the repository's docs/
    storage = Storage(f"sqlite:///{tmp_path / 'uv.db'}")
    storage.get_or_create_study("unified-sst2", "bench: test")
    rows = [("par_adapter_ffn_r64", [0.80, 0.81, 0.82], 297_600), ("seq_adapter_ffn_r64", [0.70, 0.71, 0.72], 297_600),
            ("lora", [0.75, 0.76, 0.77], 73_728), ("prefix", [0.785, 0.795, 0.805], 138_240),
            ("free_t7", [0.79, 0.80, 0.81], 50_000), ("free_t9", [0.60, 0.61, 0.62], 1_000),
            ("lora@lr0.003", [0.80, 0.81, 0.82], 73_728), ("prefix@lr0.01", [0.5], 138_240)]
    number = 0
    for name, scores, params in rows:
        for seed, score in enumerate(scores):
            _store(storage, "unified-sst2", number, name, seed, score, params)
            number += 1
    findings = "\n".join(results.findings_section(storage, ["sst2"]))
    assert "| Parallel insertion beats sequential (adapter at the FFN, r=64) | reproduced |" in findings
    assert "| 80.0 ± 1.0 (3) |" not in findings  # cells are per method and task
    assert "| par_adapter_ffn_r64 | 297,600 | 1.310 | 81.0 ± 1.0 (3) |" in findings

    free = Storage(f"sqlite:///{tmp_path / 'free.db'}")
    free.get_or_create_study("uv-free-space", "name: uv-free-space")
    _store(free, "uv-free-space", 7, "free", 0, 0.83, 50_000)
    _store(free, "uv-free-space", 8, "free", 0, 0.70, 90_000)  # dominated by trial 7: not on the front
    _store(free, "uv-free-space", 9, "free", 0, 0.61, 1_000)
    page = "\n".join(results.free_space_section(storage, f"sqlite:///{tmp_path / 'free.db'}", "uv-free-space"))
    front_rows = [line for line in page.splitlines() if line.startswith("| 7 |") or line.startswith("| 8 |")]
    assert len(front_rows) == 1 and front_rows[0].endswith("| 50,000 | 83.0 |")
    # free_t7 (50k, 80.0) dominates lora (73.7k, 76.0) and prefix (138k, 79.5); only lora by more than the std
    line = next(line for line in page.splitlines() if line.startswith("| free_t7 |"))
    assert line.endswith("| prefix (no), lora (yes) | – |")  # presets in `deltaspace methods` order
    # LoRA at its tuned rate (81.0, three seeds) is not dominated; a one-seed sweep point is no rival
    assert "against the presets that section 1 tuned (lora@lr0.003)" in page
    assert next(line for line in page.splitlines() if line.startswith("| free_t9 |")).endswith("| – | – |")
    assert "1 of 2 re-evaluated combinations dominate at least one preset" in page
    assert (tmp_path / "figures" / "free-space-sst2.html").exists()


def test_learning_rate_variants_count_as_the_method_at_its_best_rate(results, tmp_path):
    storage = Storage(f"sqlite:///{tmp_path / 'uv.db'}")
    storage.get_or_create_study("unified-sst2", "bench: test")
    rows = [("par_adapter_ffn_r64", [0.80, 0.81, 0.82]), ("seq_adapter_ffn_r64", [0.70, 0.71, 0.72]),
            ("seq_adapter_ffn_r64@lr0.01", [0.85, 0.86, 0.87]), ("seq_adapter_ffn_r64@lr0.1", [0.95])]
    for i, (name, scores) in enumerate(rows):
        for seed, score in enumerate(scores):
            _store(storage, "unified-sst2", 10 * i + seed, name, seed, score, 297_600)
    findings = "\n".join(results.findings_section(storage, ["sst2"]))
    assert "| seq_adapter_ffn_r64 | 297,600 | 1.310 | 86.0 ± 1.0 (3) |" in findings  # the variant run on every seed
    assert "| Parallel insertion beats sequential (adapter at the FFN, r=64) | **reversed** |" in findings
    assert "of the second seq_adapter_ffn_r64@lr0.01" in findings


def test_learning_rate_table_marks_the_rate_each_method_uses(results, tmp_path):
    storage = Storage(f"sqlite:///{tmp_path / 'uv.db'}")
    storage.get_or_create_study("unified-sst2", "bench: test")
    for number, (name, lr, score) in enumerate([("mh_pa_r5", 1e-3, 0.52), ("mh_pa_r5@lr0.003", 3e-3, 0.71),
                                                 ("mh_pa_r5@lr0.01", 1e-2, 0.66), ("lora", 1e-3, 0.76)]):
        storage.start_trial("unified-sst2", number, method_name=name, method_json=preset("lora").canonical_json(),
                            method_hash=f"{number:064d}", params={}, training={"max_steps": 100, "lr": lr}, seed=0,
                            worker_host="h", worker_pid=1)
        storage.finish_trial("unified-sst2", number, TrialResult(status="complete", score=score, delta_params=1))
    table = results.lr_sweep(results.collect(storage, "unified-sst2"))
    assert "| method | 0.001 | 0.003 | 0.01 |" in table
    assert "| mh_pa_r5 | 52.0 | **71.0** | 66.0 |" in table
    assert "| lora | **76.0** | – | – |" in table


def test_preset_table_finds_a_preset_stored_under_a_findings_name(results, tmp_path):
    storage = Storage(f"sqlite:///{tmp_path / 'uv.db'}")
    storage.get_or_create_study("unified-sst2", "bench: test")
    for seed in range(3):  # pfeiffer's method, run (once per seed) under the findings name or its own
        storage.start_trial("unified-sst2", seed, method_name="seq_adapter_ffn_r64" if seed < 2 else "pfeiffer",
                            method_json=preset("pfeiffer").canonical_json(), method_hash=f"{seed:064d}", params={},
                            training={"max_steps": 100, "lr": 1e-3}, seed=seed, worker_host="h", worker_pid=1)
        storage.finish_trial("unified-sst2", seed, TrialResult(status="complete", score=0.7 + seed / 100,
                                                              delta_params=297_600, percent=1.31))
    table = "\n".join(results.preset_section(storage, "sst2"))
    assert "| pfeiffer (= seq_adapter_ffn_r64) | 297,600 | 1.310 | 71.0 ± 1.0 (3) |" in table
    assert "| houlsby | – | – | not run |" in table


def _promoted(storage: Storage, study: str, task: str, rates: dict[float, float], seeds: list[float] | None,
              method_json: str = "{}", params: int = 100, examples_per_second: float = 0.0) -> None:  # fmt: skip
    """A promoted findings study stored row by row: rung 0 at each rate (seed 0); the best rate's
    trial at the last rung with its per-seed scores (None: the last rung has not run yet)."""
    spec = f"name: {study}\ntask: {task}\nmodel: minilm\nsearch: {{promotion: {{rungs: [10, 30], eta: 4}}}}\n"
    storage.get_or_create_study(study, spec)
    for number, (lr, score) in enumerate(rates.items()):
        storage.start_trial(study, number, method_name=study.rsplit("-", 1)[1], method_json=method_json,
                            method_hash=f"{number:064d}", params={}, training={"lr": lr, "max_steps": 10, "batch_size": 4}, seed=0,
                            worker_host="h", worker_pid=1)  # fmt: skip
        storage.finish_rung(study, number, 0, 10, TrialResult(status="complete", score=score, delta_params=params,
                                                              percent=0.1))  # fmt: skip
    if seeds is None:
        return
    best = max(range(len(rates)), key=lambda i: list(rates.values())[i])
    metrics = {f"score_seed{i}": s for i, s in enumerate(seeds)}
    training = {"lr": list(rates)[best], "max_steps": 30, "batch_size": 4}  # the last rung's, as the runner stores
    result = TrialResult(status="complete", score=sum(seeds) / len(seeds), metrics=metrics, delta_params=params,
                         percent=0.1, train_examples_per_second=examples_per_second)  # fmt: skip
    storage.finish_rung(study, best, 1, 30, result, training=training)


def test_tuned_findings_read_each_methods_promoted_winner(results, tmp_path):
    storage = Storage(f"sqlite:///{tmp_path / 'findings.db'}")
    _promoted(storage, "findings-cola-par_adapter_ffn_r64", "cola", {1e-4: 0.1, 1e-3: 0.2}, [0.30, 0.32, 0.34])
    _promoted(storage, "findings-cola-seq_adapter_ffn_r64", "cola", {1e-4: 0.1, 1e-3: 0.05}, [0.20, 0.21, 0.23])
    _promoted(storage, "findings-cola-scaled_pa_ffn_r64", "cola", {1e-4: 0.1}, None)  # last rung not reached

    runs = results.promoted_winner(storage, "findings-cola-par_adapter_ffn_r64")
    assert [(r.seed, r.score) for r in runs] == [(0, 0.30), (1, 0.32), (2, 0.34)]
    assert runs[0].training["lr"] == 1e-3  # the rate that won rung 0
    assert results.promoted_winner(storage, "findings-cola-scaled_pa_ffn_r64") == []
    assert set(results.findings_studies(storage)["cola"]) == {"par_adapter_ffn_r64", "seq_adapter_ffn_r64"}

    page = "\n".join(results.tuned_findings_section(storage))
    # paired differences 0.10, 0.11, 0.11: an interval far from zero
    # differences 10, 11, 11 points: mean 10.67, sem 0.333, t(0.975, 2) = 4.303 -> [+9.2, +12.1]
    assert "| Parallel insertion beats sequential (adapter at the FFN, r=64) | reproduced: +10.7 [+9.2, +12.1] |" in page
    assert "| Scaled composition (s=4) beats plain addition (PA at the FFN, r=64) | 1 of 2 to run |" in page
    assert "| par_adapter_ffn_r64 | 100 | 0.100 | 32.0 ± 2.0 (lr 0.001) |" in page
    assert "| seq_adapter_ffn_r64 | 100 | 0.100 | 21.3 ± 1.5 (lr 0.0001) |" in page


def test_study_hours_count_each_rung_once(results, tmp_path):
    from datetime import timedelta

    storage = Storage(f"sqlite:///{tmp_path / 'findings.db'}")
    _promoted(storage, "findings-cola-lora", "cola", {1e-4: 0.1, 1e-3: 0.2}, [0.3, 0.3, 0.3])
    rungs = storage.list_rungs("findings-cola-lora")
    by_hand = sum((r.finished_at - r.started_at) / timedelta(hours=1) for r in rungs)
    assert len(rungs) == 3 and results.study_hours(storage, "findings-cola-lora") == pytest.approx(by_hand)
    assert results.hours_of(storage, ("findings-",)) == (pytest.approx(by_hand), 1)
    assert results.hours_of(storage, ("budget-",)) == (0, 0)


def test_tuned_preset_table_quotes_the_seed_interval_and_merging(results, tmp_path):
    from scipy import stats

    storage = Storage(f"sqlite:///{tmp_path / 'findings.db'}")
    _promoted(storage, "presets-cola-lora", "cola", {1e-4: 0.1, 1e-3: 0.2}, [0.30, 0.32, 0.34],
              examples_per_second=8.0)
    page = "\n".join(results.tuned_preset_section(storage))
    half = stats.t.ppf(0.975, 2) * 2.0 / 3**0.5  # std of 30, 32, 34 is 2.0
    train_s = 30 * 4 / 8.0  # the last rung's 30 steps of batch 4 at 8 examples/s, one seed
    assert f"| lora | 100 | 0.100 | 32.0 ± {half:.1f} (3) | 0.001 | 8 | {train_s:.0f} | 0.0 | yes |" in page
    assert "| prefix | | | not run | | | | | no |" in page  # prefixes cannot fold into a weight
    assert "### cola (majority class 0.0)" in page


def test_rate_choices_show_the_promoted_rate_and_ties(results, tmp_path):
    storage = Storage(f"sqlite:///{tmp_path / 'findings.db'}")
    _promoted(storage, "findings-cola-lora", "cola", {1e-4: 0.1, 1e-3: 0.2}, [0.3, 0.3, 0.3])
    _promoted(storage, "findings-cola-prefix", "cola", {1e-2: 0.0, 3e-2: 0.0}, [0.1, 0.1, 0.1])
    _promoted(storage, "findings-cola-mam", "cola", {1e-4: 0.3, 3e-4: 0.0, 1e-3: 0.0}, [0.3, 0.3, 0.3])
    _promoted(storage, "findings-cola-mh_pa_r5", "cola", {1e-4: 0.1, 3e-4: 0.2, 1e-3: 0.15}, [0.2, 0.2, 0.2])
    page = "\n".join(results.rate_choices(storage, "findings", results.findings_studies(storage)))
    assert "| cola | lora | 0.0001: 10.0, **0.001: 20.0** | highest tried |" in page
    assert "| cola | prefix | **0.01: 0.0**, 0.03: 0.0 | tie |" in page
    assert "| cola | mam | **0.0001: 30.0**, 0.0003: 0.0, 0.001: 0.0 | lowest tried |" in page
    assert "| cola | mh_pa_r5 | 0.0001: 10.0, **0.0003: 20.0**, 0.001: 15.0 |  |" in page  # inside the grid


def test_a_preset_tuned_by_a_findings_study_counts_in_the_preset_table(results, tmp_path):
    """pfeiffer is the sequential FFN adapter r=64 (found by its method, not its name); a findings
    method that is no preset stays out; a preset's own study wins over a findings study."""
    url = f"sqlite:///{tmp_path / 'findings.db'}"
    storage = Storage(url)
    pfeiffer = preset("pfeiffer").model_copy(update={"name": "seq_adapter_ffn_r64"}).canonical_json()
    scaled = preset("pfeiffer").model_copy(update={"name": "other"}).model_dump(mode="json")
    scaled["deltas"][0]["insertion"] = "parallel"
    scaled["deltas"][0]["composition"] = "scaled"
    scaled["deltas"][0]["scale"] = 4.0
    _promoted(storage, "findings-cola-seq_adapter_ffn_r64", "cola", {1e-3: 0.2}, [0.20, 0.22, 0.24], pfeiffer)
    _promoted(storage, "findings-cola-scaled_pa_ffn_r64", "cola", {1e-3: 0.2}, [0.1, 0.1, 0.1], json.dumps(scaled))
    _promoted(storage, "findings-cola-lora", "cola", {1e-3: 0.2}, [0.1, 0.1, 0.1], preset("lora").canonical_json())
    _promoted(storage, "presets-cola-lora", "cola", {1e-3: 0.2}, [0.30, 0.32, 0.34], preset("lora").canonical_json())

    runs = results.tuned_preset_runs(storage)["cola"]
    assert {name: study for name, (_, study) in runs.items()} == {
        "pfeiffer": "findings-cola-seq_adapter_ffn_r64", "lora": "presets-cola-lora"}  # fmt: skip
    page = "\n".join(results.tuned_preset_section(storage))
    assert "| pfeiffer (f) | 100 | 0.100 | 22.0 ± " in page
    assert "| lora | 100 | 0.100 | 32.0 ± " in page

    findings = _bench_module("findings")
    assert findings.tuned_by_findings(url, "cola") == {"pfeiffer": "findings-cola-seq_adapter_ffn_r64"}
    assert findings.tuned_by_findings(url, "rte") == {}
    assert findings.tuned_by_findings(f"sqlite:///{tmp_path / 'none.db'}", "cola") == {}
    assert not (tmp_path / "none.db").exists()


def _bench_module(name: str):
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_more_seeds_join_the_winner_only_at_its_rate_and_steps(results, tmp_path):
    url = f"sqlite:///{tmp_path / 'findings.db'}"
    storage = Storage(url)
    _promoted(storage, "findings-cola-lora", "cola", {1e-4: 0.1, 1e-3: 0.2}, [0.30, 0.32, 0.34])
    _promoted(storage, "findings-cola-prefix", "cola", {1e-2: 0.1}, [0.10, 0.10, 0.10])
    storage.get_or_create_study("more-findings-cola-lora", "name: more\n")
    for number, (lr, steps, scores) in enumerate([(1e-3, 30, {3: 0.36, 4: 0.38}), (1e-4, 30, {5: 0.9}),
                                                  (1e-3, 99, {6: 0.9}), (1e-3, 30, {2: 0.9})]):  # fmt: skip
        storage.start_trial("more-findings-cola-lora", number, method_name="lora", method_json="{}",
                            method_hash=f"{number:064d}", params={}, training={"lr": lr, "max_steps": steps},
                            seed=min(scores), worker_host="h", worker_pid=1)  # fmt: skip
        metrics = {f"score_seed{k}": v for k, v in scores.items()}
        storage.finish_trial("more-findings-cola-lora", number,
                             TrialResult(status="complete", score=sum(scores.values()) / len(scores), metrics=metrics))
    runs = results.findings_studies(storage)["cola"]
    # seeds 3 and 4 join; another rate (5), another budget (6) and a seed the winner has (2) do not
    assert [(r.seed, r.score) for r in runs["lora"]] == [(0, 0.30), (1, 0.32), (2, 0.34), (3, 0.36), (4, 0.38)]
    assert [r.seed for r in runs["prefix"]] == [0, 1, 2]

    findings = _bench_module("findings")
    study = findings.study_for("cola", "findings", "lora", {}, [0.25, 1.0], [0, 1, 2], 2 / 3)
    more = findings.more_seeds_study(url, study, [3, 4])
    assert more["name"] == "more-findings-cola-lora" and more["seeds"] == [3, 4]
    assert more["training"]["lr"] == 1e-3 and more["training"]["keep_best"] is False
    assert "lr_quantile" not in more["training"] and "promotion" not in more["search"]
    assert more["budget"] == {"max_steps": 30, "n_trials": 1}  # the last rung's steps
    from deltaspace.search.validate import check_study
    from deltaspace.space.study import study_from_mapping

    check_study(study_from_mapping(more))  # a study the product accepts as it is
    missing = findings.study_for("cola", "findings", "mam", {}, [1.0], [0, 1, 2])
    assert findings.more_seeds_study(url, missing, [3]) is None


def _free_trial(storage: Storage, number: int, method_json: str, params: int, seeds: dict[int, float] | None) -> None:
    """A trial of the promoted free-space study: rung 0, and the last rung on ``seeds`` (None: never got there)."""
    storage.start_trial("free-space-cola", number, method_name="free", method_json=method_json,
                        method_hash=f"{number:064d}", params={}, training={"lr_quantile": 0.5, "max_steps": 10},
                        seed=0, worker_host="h", worker_pid=1)  # fmt: skip
    storage.finish_rung("free-space-cola", number, 0, 10, TrialResult(status="complete", score=0.1,
                                                                      delta_params=params, percent=0.1))  # fmt: skip
    if seeds is not None:
        metrics = {f"score_seed{k}": v for k, v in seeds.items()}
        storage.finish_rung("free-space-cola", number, 1, 30,
                            TrialResult(status="complete", score=sum(seeds.values()) / len(seeds), metrics=metrics,
                                        delta_params=params, percent=0.1),
                            training={"lr_quantile": 0.5, "max_steps": 30, "seeds": sorted(seeds)})  # fmt: skip


def test_promoted_free_space_names_what_dominates_a_tuned_preset_beyond_noise(results, tmp_path):
    from scipy import stats

    storage = Storage(f"sqlite:///{tmp_path / 'findings.db'}")
    assert "Not run yet" in "\n".join(results.promoted_free_space_section(storage))
    lora = preset("lora").canonical_json()
    _promoted(storage, "presets-cola-lora", "cola", {1e-3: 0.2}, [0.30, 0.32, 0.34], lora)
    vera = preset("vera").canonical_json()
    _promoted(storage, "presets-cola-vera", "cola", {1e-2: 0.2}, [0.10, 0.10, 0.10], vera, params=40)
    mam = preset("mam").canonical_json()  # stuck at the majority class (MCC 0): beating it is no finding
    _promoted(storage, "presets-cola-mam", "cola", {1e-3: 0.0}, [0.0, 0.0, 0.0], mam, params=1_000)
    spec = "name: free-space-cola\ntask: cola\nmodel: minilm\nsearch: {promotion: {rungs: [10, 30], eta: 3}}\n"
    storage.get_or_create_study("free-space-cola", spec)
    small = json.dumps({"deltas": [{"form": "lokr", "position": "attn_out", "size": 4}]})
    wide = json.dumps({"deltas": [{"form": "low_rank", "position": "ffn_in", "size": 256}]})
    _free_trial(storage, 0, small, 50, {0: 0.40, 1: 0.42, 2: 0.44})  # +0.10 on every seed over lora, half its size
    _free_trial(storage, 1, lora, 100, {0: 0.41, 1: 0.43, 2: 0.45})  # lora itself: published, named so
    _free_trial(storage, 2, wide, 30, {0: 0.50, 1: 0.20, 2: 0.45})  # smaller, better mean than lora and vera:
    # not beyond noise (against vera the interval is wider than its mean gap too)
    _free_trial(storage, 3, small.replace("4", "8"), 60, None)  # stopped at rung 0: not listed
    diffs = [0.50 - 0.30, 0.20 - 0.32, 0.45 - 0.34]
    low, high = stats.t.interval(0.95, 2, loc=stats.tmean(diffs), scale=stats.sem(diffs))
    assert low < 0 < high and stats.tmean(diffs) > 0
    diffs = [0.50 - 0.10, 0.20 - 0.10, 0.45 - 0.10]
    assert stats.t.interval(0.95, 2, loc=stats.tmean(diffs), scale=stats.sem(diffs))[0] < 0

    page = "\n".join(results.promoted_free_space_section(storage))
    assert "| 0 | lokr@attn_out r=4 | 50 | 42.0 ± " in page and "| yes | lora, mam |  |" in page.split("| 0 |")[1]
    row_1 = next(line for line in page.splitlines() if line.startswith("| 1 |"))
    assert "(= lora)" in row_1 and row_1.endswith("| yes | lora, mam |  |")  # published, so not a new winner
    row_2 = next(line for line in page.splitlines() if line.startswith("| 2 |"))
    assert row_2.startswith("| 2 | low_rank@ffn_in r=256 | 30 | 38.3 ± ") and row_2.endswith("| yes |  |  |")
    assert "| 3 |" not in page
    assert ("beyond noise: trial 0 (lora) (against the 2 tuned presets of `cola` that learned the task; mam "
            "stayed at the majority class, so dominating them is not counted)") in page
    assert "trial 2" not in page.split("Unpublished combinations")[1]


def test_a_budget_with_only_findings_studies_gets_its_preset_table(results, tmp_path):
    storage = Storage(f"sqlite:///{tmp_path / 'findings.db'}")
    pfeiffer = preset("pfeiffer").canonical_json()
    _promoted(storage, "findings-cola-seq_adapter_ffn_r64", "cola", {1e-3: 0.2}, [0.20, 0.22, 0.24], pfeiffer)
    page = "\n".join(results.tuned_preset_section(storage))
    assert "### cola (majority class 0.0)" in page and "| pfeiffer (f) | 100 | 0.100 | 22.0 ± " in page
    assert "| lora | | | not run | | | | | yes |" in page


def test_the_best_of_a_group_is_its_best_mean_however_many_seeds_it_ran(results):
    from types import SimpleNamespace

    def runs(*scores):
        return [SimpleNamespace(seed=i, score=s) for i, s in enumerate(scores)]

    by_method = {"pa_attn_r5": runs(0.16, 0.15, 0.19, 0.14, 0.09),  # 5 seeds (--more-seeds), mean 0.146
                 "pa_ffn_r5": runs(0.16, 0.17, 0.14),  # 3 seeds, mean 0.157
                 "pa_ffn_r5@lr0.01": runs(0.90)}  # a one-seed sweep point never outranks them  # fmt: skip
    name, seeds = results._best(by_method, ["pa_attn_r5", "pa_ffn_r5"])
    assert name == "pa_ffn_r5" and seeds == {0: 0.16, 1: 0.17, 2: 0.14}


@pytest.mark.skipif(not (DATA / "mrpc").exists(), reason="needs ../shared/data")
def test_budget_rows_judge_learned_and_break_an_averaged_score_down(results, tmp_path):
    """A budget row is 'learned' 10 points above the majority class; where the score is the mean of
    accuracy and F1 (MRPC), the best run's metrics are quoted one by one beside the majority's."""
    storage = Storage(f"sqlite:///{tmp_path / 'findings.db'}")
    runs = {"budget-mrpc": [("full", 2e-5, 345, 0.80, 0.86)], "budget-mrpc-long": [("lora", 3.2e-3, 1150, 0.85, 0.88)]}
    for study, rows in runs.items():
        storage.get_or_create_study(study, f"name: {study}\ntask: mrpc\nmodel: minilm\n")
        for number, (method, lr, steps, accuracy, f1) in enumerate(rows):
            storage.start_trial(study, number, method_name=method, method_json="{}", method_hash=f"{number:064d}",
                                params={}, training={"lr": lr, "max_steps": steps}, seed=0, worker_host="h", worker_pid=1)
            metrics = {"accuracy": accuracy, "f1": f1, "combined": (accuracy + f1) / 2}
            curve = [EvalPoint(step=step, score=score) for step, score in [(115, 0.8), (230, 0.84), (345, 0.82)]]
            storage.finish_trial(study, number, TrialResult(status="complete", score=(accuracy + f1) / 2,
                                                            metrics=metrics, delta_params=1, percent=0.1,
                                                            eval_curve=curve if steps == 1150 else curve[-1:]))
    page = "\n".join(results.budgets_section(storage))
    labels = _labels("mrpc")
    p = sum(labels) / len(labels)  # the majority class is 1: accuracy p, F1 2p/(1+p)
    floor = (p + 2 * p / (1 + p)) / 2
    best = (0.85 + 0.88) / 2
    row = next(line for line in page.splitlines() if line.startswith("| mrpc |"))
    assert row.endswith(f"| {100 * best:.1f} (+{100 * (best - floor):.1f}) | yes |")  # 86.5 vs 74.8
    assert "345 steps, 2e-05: 83.0" in row and "1150 steps, 0.0032: 86.5" in row
    assert (f"- mrpc: the score is the mean of f1 and accuracy; its best run (lora, 1150 steps, lr 0.0032): "
            f"f1 88.0 (majority class {100 * 2 * p / (1 + p):.1f}, {100 * (0.88 - 2 * p / (1 + p)):+.1f}), "
            f"accuracy 85.0 (majority class {100 * p:.1f}, {100 * (0.85 - p):+.1f}).") in page
    assert ("- mrpc, lora for 1150 steps at lr 0.0032: the validation score every 115 steps (a learning curve; "
            "the row quotes the last step): 80.0, 84.0, 82.0.") in page
    assert "- mrpc, full for 345" not in page  # one point is no curve


@pytest.mark.skipif(not (DATA / "rte").exists(), reason="needs ../shared/data")
def test_a_budget_is_learned_by_its_best_tuned_method(results, tmp_path):
    """The learned bar is the best method's: a preset tuned on the budget (3 seeds) that clears the
    majority class by 10 points makes the row 'learned' where full fine-tuning and LoRA do not."""
    storage = Storage(f"sqlite:///{tmp_path / 'findings.db'}")
    storage.get_or_create_study("budget-rte", "name: budget-rte\ntask: rte\nmodel: minilm\n")
    storage.start_trial("budget-rte", 0, method_name="full", method_json="{}", method_hash="0" * 64, params={},
                        training={"lr": 2e-5, "max_steps": 234}, seed=0, worker_host="h", worker_pid=1)
    storage.finish_trial("budget-rte", 0, TrialResult(status="complete", score=0.55, delta_params=1, percent=100.0))
    _promoted(storage, "findings-rte-lora", "rte", {1e-3: 0.5, 3e-3: 0.55}, [0.60, 0.62, 0.64])
    _promoted(storage, "presets-rte-unipelt", "rte", {1e-3: 0.56, 3e-3: 0.5}, [0.66, 0.64, 0.65])
    labels = _labels("rte")
    floor = max(sum(labels), len(labels) - sum(labels)) / len(labels)  # accuracy of the majority class
    row = next(line for line in "\n".join(results.budgets_section(storage)).splitlines() if line.startswith("| rte |"))
    assert "| 0.003: 62.0 ± 2.0 | unipelt (lr 0.001): 65.0 ± 1.0 |" in row
    assert row.endswith(f"| 65.0 (+{100 * (0.65 - floor):.1f}) | yes |")  # 65.0 vs 52.7; full's 55.0 alone is not

    storage.delete_study("presets-rte-unipelt")
    row = next(line for line in "\n".join(results.budgets_section(storage)).splitlines() if line.startswith("| rte |"))
    assert row.endswith(f"| lora (lr 0.003): 62.0 ± 2.0 | 62.0 (+{100 * (0.62 - floor):.1f}) | **no** |")

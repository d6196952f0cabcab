"""The findings and the preset table at a scale that can decide them: each method at its own tuned
rate, on three seeds, through the product's own promotion.

    python bench/findings.py --task mrpc --set findings           # the findings' methods (resumes)
    python bench/findings.py --task mrpc --set presets            # every preset
    python bench/findings.py --task rte --set presets --only lora dora --print   # show the study YAML
    python bench/findings.py --task cola --set findings --only lora mam_glue --more-seeds 3 4

``--task`` names a budget file, ``examples/findings/budget-<task>.yaml`` (``rte-mnli``: RTE from
the MNLI-tuned model of ``intermediate-mnli.yaml``); ``--only`` runs those methods in its order.
Each method is one study (``<set>-<task>-<method>`` in ``bench/results/findings.db``): a grid over
``lr_quantile`` (default 0.25, 0.5, 0.75, 1: points of the method's *own* rate range) trained on
seed 0 for a third of the task's budget, then promotion (η = the number of rates) sends the best
rate on to the whole budget on seeds 0, 1 and 2, scored on the whole validation split. The budget
(model, task, optimiser steps, batch, length, data) is the task's ``examples/findings/budget-<task>.yaml``;
nothing here trains or scores by itself: ``bench/make_results.py`` reads the stored studies.
An interrupted run resumes where it stopped; a finished study runs nothing again.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT.parent / "examples" / "findings"
sys.path.insert(0, str(ROOT))

SETS = ("findings", "presets")


def finding_arms() -> dict[str, dict[str, Any]]:
    """The findings' methods (``unified_view.FINDINGS``, one definition) as study arms: a preset by
    name, any other method as a fixed free slot list; the GLUE-size MAM beside the XSum-size one."""
    from deltaspace.space import preset_names
    from unified_view import FINDINGS

    arms: dict[str, dict[str, Any]] = {}
    for methods in FINDINGS.values():
        for method in methods:
            if method.name in preset_names():
                arms[method.name] = {}
            else:
                deltas = method.model_dump(mode="json", exclude_defaults=True)["deltas"]
                arms[method.name] = {"slots": deltas}
    arms["mam_glue"] = {}
    return arms


def preset_arms() -> dict[str, dict[str, Any]]:
    from deltaspace.space import preset_names

    return {name: {} for name in preset_names()}


def budgets() -> list[str]:
    """The budgets there are: ``examples/findings/budget-<name>.yaml`` (``rte``, ``rte-mnli``, …)."""
    return sorted(p.stem.removeprefix("budget-") for p in EXAMPLES.glob("budget-*.yaml"))


def study_for(budget_name: str, set_name: str, method: str, arm: dict[str, Any], quantiles: list[float],
              seeds: list[int], first_rung: float = 1 / 3) -> dict[str, Any]:  # fmt: skip
    """One method's study: the budget file (task, model, steps), a grid over the method's own
    rates, promotion to the budget; named ``<set>-<budget>-<method>``."""
    budget = yaml.safe_load((EXAMPLES / f"budget-{budget_name}.yaml").read_text())
    model = budget["model"]
    if (EXAMPLES / model).exists():  # a model folder, relative to the budget file
        model = str((EXAMPLES / model).resolve())
    steps = int(budget["budget"]["max_steps"])
    training = {k: v for k, v in budget.get("training", {}).items() if k != "lr"}
    training["lr_quantile"] = quantiles
    return {
        "name": f"{set_name}-{budget_name}-{method}",
        "model": model,
        "task": budget["task"],
        "data_dir": str((EXAMPLES / budget["data_dir"]).resolve()),
        "seeds": [seeds[0]],
        "objectives": ["score", "delta_params"],
        "budget": {"max_steps": steps, "n_trials": len(quantiles)},
        "training": training,
        "search": {"sampler": "grid", "seed": 0,
                   "promotion": {"rungs": [max(1, round(steps * first_rung)), steps], "eta": len(quantiles), "seeds": seeds}},
        "methods": {method: arm},
    }  # fmt: skip


@contextmanager
def stored(storage_url: str) -> Iterator[Any]:
    """The findings database read-only, or None where there is none yet (nothing ran)."""
    from deltaspace.storage import Storage, StorageError

    try:
        storage = Storage(storage_url, read_only=True)
    except StorageError:
        yield None
        return
    try:
        yield storage
    finally:
        storage.close()


def more_seeds_study(storage_url: str, study: dict[str, Any], seeds: list[int]) -> dict[str, Any] | None:
    """``more-<study>``: the promoted study's winner on more ``seeds``, trained as its last rung
    trained them (its rate, the whole budget and schedule, the last weights, the whole split), so
    that ``make_results`` may pool them with the winner's seeds; None until the winner exists."""
    from make_results import promoted_winner

    with stored(storage_url) as storage:
        names = set() if storage is None else {s.name for s in storage.list_studies()}
        runs = promoted_winner(storage, study["name"]) if study["name"] in names else []
    if not runs:
        return None
    training = {k: v for k, v in study["training"].items() if k != "lr_quantile"}
    training |= {"lr": float(runs[0].training["lr"]), "keep_best": False}
    return {**study, "name": f"more-{study['name']}", "seeds": seeds, "training": training,
            "budget": {"max_steps": int(runs[0].training["max_steps"]), "n_trials": 1},
            "search": {"sampler": "grid", "seed": 0}}  # fmt: skip


def tuned_by_findings(storage_url: str, budget: str) -> dict[str, str]:
    """Presets that a findings study of ``budget`` tuned unchanged, with that study's name (the
    preset table takes them from there: ``make_results.tuned_preset_runs``, one definition)."""
    from make_results import tuned_preset_runs

    with stored(storage_url) as storage:
        runs = {} if storage is None else tuned_preset_runs(storage).get(budget, {})
    return {name: study for name, (_, study) in runs.items() if study.startswith("findings-")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, choices=budgets(),
                        help="the budget: examples/findings/budget-<TASK>.yaml (rte-mnli: RTE from the MNLI-tuned model)")
    parser.add_argument("--set", dest="set_name", required=True, choices=SETS)
    parser.add_argument("--only", nargs="+", default=None, help="these methods of the set")
    parser.add_argument("--quantiles", nargs="+", type=float, default=[0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--first-rung", type=float, default=1 / 3,
                        help="the rates compete for this fraction of the budget (CoLA: 2/3; at 1/3 no PEFT "
                             "method leaves the majority class, so every rate ties)")
    parser.add_argument("--more-seeds", nargs="+", type=int, default=None, metavar="SEED",
                        help="train each method's promoted winner on these seeds too (study more-<study>), "
                             "for a verdict that hangs on the noise")
    parser.add_argument("--storage", default=f"sqlite:///{ROOT / 'results' / 'findings.db'}")
    parser.add_argument("--print", dest="show", action="store_true", help="print the studies' YAML, run nothing")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from deltaspace.search.study_runner import run_study
    from deltaspace.space.study import study_from_mapping

    arms = finding_arms() if args.set_name == "findings" else preset_arms()
    unknown = sorted(set(args.only or []) - set(arms))
    if unknown:
        parser.error(f"not in the {args.set_name} set: {', '.join(unknown)}; the set: {', '.join(arms)}")
    chosen = list(arms) if args.only is None else list(dict.fromkeys(args.only))  # in the order given
    if args.set_name == "presets":
        tuned = tuned_by_findings(args.storage, args.task)
        for method in [m for m in chosen if m in tuned]:
            print(f"{method}: tuned by {tuned[method]}, not run again")
        chosen = [m for m in chosen if m not in tuned]
    for i, method in enumerate(chosen, 1):
        spec = study_for(args.task, args.set_name, method, arms[method], args.quantiles, args.seeds, args.first_rung)
        if args.more_seeds:
            more = more_seeds_study(args.storage, spec, args.more_seeds)
            if more is None:
                print(f"{spec['name']}: no promoted winner yet; run it first (without --more-seeds)")
                continue
            spec = more
        if args.show:
            print(yaml.safe_dump(spec, sort_keys=False))
            continue
        print(f"[{i}/{len(chosen)}] {spec['name']}", flush=True)
        run_study(study_from_mapping(spec), args.storage)


if __name__ == "__main__":
    main()

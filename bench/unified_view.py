"""Reproduce the unified view's four findings, and the preset table, at MiniLM scale.

    python bench/unified_view.py --tasks sst2 rte mrpc --seeds 0 1 2 --steps 150
    python bench/make_results.py          # turns the stored studies into docs/results.md

Every (task, method, seed) is one trial, stored in ``bench/results/unified_view.db`` as a
deltaspace study per task (``unified-<task>``); re-running skips what is stored, so the script
can be interrupted and resumed. Methods, per finding (MiniLM: d=384, 6 layers, 22.7M backbone):

* insertion: sequential vs parallel adapter at the FFN, r=64 (1.3%);
* position: attention vs FFN at ~0.1% (prefix l=5, multi-head PA r=5, PA r=5 at attn / ffn)
  and at ~2.6% (PA r=128 at attn / ffn);
* composition: PA at the FFN, r=64, add vs scaled (s=4);
* MAM (prefix l=30 + scaled PA r=512) vs scaled PA r=512, prefix l=30 and LoRA;
* presets: every preset at its published size, plus full fine-tuning;
* free: the Pareto front of a free-space search (``--free-front URL STUDY``, run on one seed)
  re-evaluated here on every seed, as ``free_t<trial>``, so that it meets the presets on equal terms.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import time
from pathlib import Path

from deltaspace.space import MethodSpec, method_from_mapping, preset, preset_names

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parents[1] / "shared" / "data"


def _pa(name: str, position: str, size: int, insertion: str = "parallel", **kw: object) -> MethodSpec:
    delta = {"form": "bottleneck", "position": position, "insertion": insertion, "size": size, **kw}
    return method_from_mapping({"name": name, "deltas": [delta]})


def _prefix(name: str, size: int) -> MethodSpec:
    return method_from_mapping({"name": name, "deltas": [{"form": "prefix", "position": "attn_heads", "size": size}]})


FINDINGS: dict[str, list[MethodSpec]] = {
    "insertion": [
        _pa("seq_adapter_ffn_r64", "ffn_output", 64, insertion="sequential"),
        _pa("par_adapter_ffn_r64", "ffn_output", 64),
    ],
    "position_0.1%": [
        _prefix("prefix_l5", 5),
        _pa("mh_pa_r5", "attn_heads", 5),
        _pa("pa_attn_r5", "attn_output", 5),
        _pa("pa_ffn_r5", "ffn_output", 5),
    ],
    "position_2.6%": [_pa("pa_attn_r128", "attn_output", 128), _pa("pa_ffn_r128", "ffn_output", 128)],
    "composition": [
        _pa("par_adapter_ffn_r64", "ffn_output", 64),
        _pa("scaled_pa_ffn_r64", "ffn_output", 64, composition="scaled", scale=4.0),
    ],
    "mam": [preset("mam"), preset("scaled_parallel_adapter"), preset("prefix"), preset("lora")],
}


def method_sets(which: list[str]) -> list[MethodSpec]:
    seen: dict[str, MethodSpec] = {}
    if "findings" in which:
        for specs in FINDINGS.values():
            for spec in specs:
                seen.setdefault(spec.name, spec)
    if "presets" in which:
        for name in preset_names():
            seen.setdefault(name, preset(name))
    return list(seen.values())


def free_front(url: str, study: str) -> list[MethodSpec]:
    """The methods on the Pareto front of a stored free-space study, named ``free_t<trial number>``."""
    from deltaspace.search.pareto import pareto_front, study_objectives
    from deltaspace.storage import Storage

    storage = Storage(url, read_only=True)
    front = pareto_front(storage.list_trials(study), study_objectives(storage.get_study(study).spec_yaml))
    return [MethodSpec(name=f"free_t{d.number}", **json.loads(d.trial.method_json)) for d in front]


def settings_for(spec: MethodSpec, steps: int, threads: int, lr: float | None = None):
    from deltaspace.trainers.settings import TrainSettings

    # Without a given rate: one shared rate for every delta, a far larger one for prefix-only
    # methods (trainers/settings.py measured 5e-2 on SST-2), and 5e-5 for full fine-tuning.
    if lr is None:
        if "all" in spec.trainable:
            lr = 5e-5
        elif spec.deltas and all(d.form == "prefix" for d in spec.deltas):
            lr = 5e-2
        else:
            lr = 1e-3
    return TrainSettings(lr=lr, max_steps=steps, batch_size=32, max_length=128, threads=threads,
                         eval_every=max(steps // 2, 1), progress=False, latency_batches=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["sst2", "rte", "mrpc"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sets", nargs="*", default=["findings", "presets"], choices=["findings", "presets"])
    parser.add_argument("--free-front", nargs=2, metavar=("URL", "STUDY"), default=None,
                        help="also run the Pareto front of this free-space study on every seed")
    parser.add_argument("--lr", type=float, default=None,
                        help="train the chosen methods at this rate instead, stored as '<name>@lr<rate>'")
    parser.add_argument("--tuned-lr", metavar="TASK", default=None,
                        help="train each method at the rate (its default or an --lr variant) that scored best "
                             "on seed 0 of TASK")
    parser.add_argument("--only", nargs="*", default=None, help="method names to run (default: all)")
    parser.add_argument("--storage", default=f"sqlite:///{ROOT / 'results' / 'unified_view.db'}")
    args = parser.parse_args()

    import yaml

    from deltaspace.storage import Storage
    from deltaspace.trainers.trial import run_trial

    storage = Storage(args.storage)
    methods = method_sets(args.sets) + (free_front(*args.free_front) if args.free_front else [])
    methods = [m for m in methods if not args.only or m.name in args.only]
    rates: dict[str, float | None] = {m.name: args.lr for m in methods}
    if args.lr is not None:  # a learning-rate variant is a method of its own in the tables
        methods = [m.model_copy(update={"name": f"{m.name}@lr{args.lr:g}"}) for m in methods]
        rates = {m.name: args.lr for m in methods}
    elif args.tuned_lr:
        methods, rates = tuned(storage, methods, args.tuned_lr)
    for task in args.tasks:
        study = f"unified-{task}"
        spec_yaml = yaml.safe_dump({"bench": "unified_view", "task": task, "steps": args.steps})
        storage.get_or_create_study(study, spec_yaml)
        for seed in args.seeds:
            for spec in methods:
                settings = settings_for(spec, args.steps, args.threads, rates[spec.name])
                key = _trial_hash(spec, settings, task, seed)
                done = storage.find_completed_by_hash(key)
                if done is not None:
                    continue
                trials = storage.list_trials(study)
                unfinished = [t.number for t in trials if t.method_hash == key]  # interrupted earlier
                number = unfinished[0] if unfinished else len(trials)
                storage.start_trial(study, number, method_name=spec.name, method_json=spec.canonical_json(),
                                    method_hash=key, params={"method": spec.name}, training=settings.model_dump(),
                                    seed=seed, worker_host=socket.gethostname(), worker_pid=os.getpid())
                start = time.perf_counter()
                result = run_trial("minilm", spec, task, DATA / task, settings, seed=seed)
                storage.finish_trial(study, number, result)
                print(f"{task:6s} seed={seed} {spec.name:28s} {result.status:9s} score={result.score} "
                      f"params={result.delta_params:,} ({time.perf_counter() - start:.0f}s)", flush=True)


def tuned(storage, methods: list[MethodSpec], task: str) -> tuple[list[MethodSpec], dict[str, float | None]]:
    """Each method as its learning-rate variant with the best seed-0 score on ``task`` (the
    method itself, at its default rate, when no variant beat it or none was run)."""
    trials = [t for t in storage.list_trials(f"unified-{task}", status="complete") if t.seed == 0 and t.score is not None]
    chosen, rates = [], {}
    for spec in methods:
        runs = [t for t in trials if t.method_name == spec.name or t.method_name.startswith(spec.name + "@lr")]
        best = max(runs, key=lambda t: t.score).method_name if runs else spec.name
        rate = float(best.split("@lr", 1)[1]) if "@lr" in best else None
        chosen.append(spec.model_copy(update={"name": best}))
        rates[best] = rate
        print(f"{spec.name}: {'default rate' if rate is None else f'lr {rate:g}'} (best of {len(runs)} on {task} seed 0)")
    return chosen, rates


def _trial_hash(spec: MethodSpec, settings, task: str, seed: int) -> str:
    import hashlib

    body = f"{spec.canonical_json()}|{settings.model_dump_json()}|{task}|{seed}"
    return hashlib.sha256(body.encode()).hexdigest()


if __name__ == "__main__":
    main()

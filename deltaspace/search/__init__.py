"""search: runs a `StudySpec` as an Optuna study (or a Ray Tune run) and records it through storage.

Modules, in the order a trial meets them: ``space_sampling`` (define-by-run sampling of a study's
space into a MethodSpec and training settings), ``budget`` (exact parameter counts and the
feasibility constraint), ``objective`` (one trial: reuse, infeasible record, training, pruning),
``worker`` (the ask/tell loop many processes can share), ``executors/`` (local processes, Ray
Tune), ``study_runner`` (start or resume a study), ``commands`` (the CLI). Samplers and pruners
are registries in ``samplers`` and ``pruners``.
"""

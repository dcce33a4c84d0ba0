"""Training: the one loop every task shares, and what it needs to stop and resume exactly.

Modules (import them directly; this package imports nothing itself, so torch-free code such as
the NumPy engine and the CLI's `--help` can use `rnnlab.train.budget` and `rnnlab.train.config`):

- trainer.py     the loop: schedule, clipping, precision, evaluation, checkpoints, metrics,
                 Ctrl-C, NaN guard, time/step/epoch budgets, progress for terminals and logs
- run.py         start a new run or resume one: config.json, data digests, trainer state
- config.py      TrainConfig and the per-task defaults (torch-free)
- checkpoint.py  run directories: config.json, safetensors weights, pickle-free trainer state
- schedule.py, optim.py, precision.py, runstate.py, metrics.py, progress.py, budget.py
"""

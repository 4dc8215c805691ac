"""Cost of the compact ReLN against the ReLU network it imitates, in the same run.

The compact ReLN of the paper's three-context task (``contexts-diff``, 700 units, 8001 epochs,
float32): identification of every seed, its schedule (:func:`reln.relns.imitate.compact_schedules`: the
decoupled early flow and 12 context-set readings per unit) and its training
(:func:`reln.relns.unit_gated.fit_gate_schedules`, closed units sliding on their kinks), against the baseline of training the ReLU network
itself with the same seeds (:func:`reln.training.fit.fit_relu`, snapshots every 10 epochs as a run that
reads them takes). Every time is the median of ``--repeats`` runs, the two interleaved; the
compile cache is warm after the first repeat for both.

    .venv/bin/python benchmarks/bench_compact.py [--seeds 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from reln.experiment.config import load_config
from reln.experiment.experiments import build_task
from reln.models.init import relu_initial_weights
from reln.training.fit import fit_relu
from reln.gates import CompactRule
from reln.identification.identify import identify_seeds
from reln.relns.imitate import compact_schedules, fit_compact_reln


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = load_config("contexts-diff")
    task, seeds = build_task(config), tuple(range(args.seeds))
    std, lr = config.relu.init_std, config.train.lr
    initial = relu_initial_weights(task, config.relu.hidden, std, seeds)
    times = {"relu": [], "identify": [], "schedule": [], "compact": []}
    rule = CompactRule()  # the default rule: closed units slide on their kinks
    for _ in range(args.repeats):
        start = time.perf_counter()
        relu = fit_relu(task, config.relu.hidden, std, seeds=seeds, lr=lr, epochs=8001, snapshot_every=10)
        times["relu"].append(time.perf_counter() - start)
        start = time.perf_counter()
        identify_seeds(task, relu)
        times["identify"].append(time.perf_counter() - start)
        start = time.perf_counter()
        schedules = compact_schedules(task, relu, initial, rule, init_std=std, lr=lr)
        times["schedule"].append(time.perf_counter() - start)
        start = time.perf_counter()
        fit_compact_reln(task, schedules, initial, lr=lr, epochs=8001, slide=rule.slide)
        times["compact"].append(time.perf_counter() - start)
    median = {k: float(np.median(v)) for k, v in times.items()}
    total = median["identify"] + median["schedule"] + median["compact"]
    print(f"compact ReLN of contexts-diff, {args.seeds} seeds, 8001 epochs, medians of {args.repeats} (wall seconds)")
    for key, label in (("relu", "ReLU training (baseline)"), ("identify", "identification"),
                       ("schedule", "compact schedules"), ("compact", "compact ReLN training")):
        print(f"  {label:40s} {median[key]:7.2f}   (runs {', '.join(f'{t:.2f}' for t in times[key])})")
    print(f"  compact ReLN (all of it) / ReLU:         {total / median['relu']:7.2f}x   "
          f"added per seed: {total / args.seeds:.2f} s")


if __name__ == "__main__":
    main()

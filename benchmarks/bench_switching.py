"""Speed of the switching ReLN: one unit-gated program for all seeds against one GDLN per seed.

Both train the same thing, bit for bit (``tests/test_unit_gated.py``): the ReLN of the paper's
three-context task (``contexts-diff``, ReLU 11-700-60, 8001 epochs, float32) whose 700 units are
gated by the ReLU's checkpoints (:func:`reln.relns.imitate.sliding_schedule`, the default for one
hidden layer; pins left out of both, since the baseline's GDLN has no kink projection).

* ``ours``: :func:`reln.relns.unit_gated.fit_switching_network`: the ReLU's architecture with given
  gates; each seed's schedule is data of one compiled program, so seeds share the compilation and
  run on parallel threads.
* ``baseline``: the plain construction, ``switching_reln`` of ``tests/oracles.py`` (a GDLN of 700 width-1
  pathways whose gate schedule is part of the model) trained with :func:`reln.training.fit.fit_gdln`, one
  seed after another, each with its own compilation.

The ReLU run that provides the gates is trained once and not timed. Every time is the median of
``--repeats`` runs, the two methods interleaved within each repeat; the ratio is baseline / ours.

    .venv/bin/python benchmarks/bench_switching.py [--seeds 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from reln.experiment.config import load_config
from reln.experiment.experiments import build_task
from reln.models.init import relu_initial_weights
from reln.training.fit import fit_gdln, fit_relu
from reln.gates.replay import ReplayOptions, sliding_schedule
from reln.relns.unit_gated import fit_switching_network

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from oracles import switching_reln  # noqa: E402  (the plain construction, a test oracle)


def baseline(task, relu, initial, lr: float) -> np.ndarray:
    losses = []
    for s, weights in enumerate(initial):
        starts, gates, _ = sliding_schedule(relu.layers[0].pre[s], relu.snapshot_epochs)
        gdln, params = switching_reln(task, starts, gates, weights)
        run = fit_gdln(task, gdln, init_params=params, singular_values=False, lr=lr,
                       epochs=int(relu.snapshot_epochs[-1]), seeds=(0,))
        losses.append(run.loss[0])
    return np.stack(losses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = load_config("contexts-diff")
    task, seeds = build_task(config), tuple(range(args.seeds))
    relu = fit_relu(task, config.relu.hidden, config.relu.init_std, seeds=seeds, epochs=8001, snapshot_every=10)
    initial = relu_initial_weights(task, config.relu.hidden, config.relu.init_std, seeds)
    times = {"ours": [], "baseline": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        ours, _ = fit_switching_network(task, relu, initial, ReplayOptions(pin_kinks=False, kink_rule="sliding"), lr=1e-3)  # the same work as the baseline
        times["ours"].append(time.perf_counter() - start)
        start = time.perf_counter()
        plain = baseline(task, relu, initial, lr=1e-3)
        times["baseline"].append(time.perf_counter() - start)
    same = np.array_equal(ours.loss, plain)
    ours_s, base_s = np.median(times["ours"]), np.median(times["baseline"])
    print(f"switching ReLN of contexts-diff, {args.seeds} seeds, 8001 epochs, medians of {args.repeats}")
    print(f"  unit-gated, one program:       {ours_s:6.2f} s  (runs {', '.join(f'{t:.2f}' for t in times['ours'])})")
    print(f"  GDLN per seed, one by one:     {base_s:6.2f} s  (runs {', '.join(f'{t:.2f}' for t in times['baseline'])})")
    print(f"  baseline / ours:               {base_s / ours_s:6.2f}x   identical losses: {same}")


if __name__ == "__main__":
    main()

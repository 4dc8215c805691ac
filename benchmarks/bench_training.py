"""Speed of the public training entry points against per-epoch Python loops, in the same run.

What is trained (the paper's "different structures" task, float32, lr = 1e-3, 8001 epochs):

* ``relu``: a ReLU network 11-700-60, init std 0.005/700, half-SSE loss, snapshots every 100
  epochs (``fit_relu``'s default: gate pattern, unit weights, output, and whatever else
  ``fit_relu`` records).
* ``gdln``: the 7-pathway GDLN (the paper's ReLN): one always-on pathway reading every input
  (init std 0.005/700), three single-context and three context-pair pathways reading the items
  (init std 0.01/700), 100 hidden units each, the ``staged`` rule, singular values of every
  pathway's map every 10 epochs.

How each is run:

* ``ours``: what a user runs, ``reln.training.fit.fit_relu(task, [700], 0.005/700, seeds=...)`` and
  ``reln.training.fit.fit_gdln(task, gdln, rule="staged", seeds=...)`` (``fit_gdln`` records each
  pathway's end-to-end map inside the compiled scan and takes the singular values afterwards
  with a float64 NumPy SVD). Wall times include initialisation, compilation and that SVD, which
  is what a user waits for; every call compiles afresh, so later calls in the same process cost
  about as much as the first. Reported: the first call for the problem in this process, the
  median of later one-seed calls, one call with 3 seeds (its wall time, and that divided by 3;
  ``train`` runs seeds on parallel threads, one per CPU core), and, for reference, execution
  alone: ``Trajectory.seconds`` of the later one-seed calls, the time ``train`` spends running
  the compiled program (it compiles before it starts that clock; for the GDLN it excludes the
  SVD afterwards).
* ``numpy``: a per-epoch Python loop, NumPy forward/backward with hand-written gradients (for the
  GDLN: a loop over pathways and ``np.linalg.svd`` every 10 epochs).
* ``jax-loop``: a per-epoch Python loop calling a ``jax.jit``-compiled single step (the "obvious
  JAX" way) and a jitted snapshot at the same epochs (for the GDLN: ``jnp.linalg.svd`` of every
  pathway's map every 10 epochs). Its compilation (the first step) is timed separately and added
  once.

The baselines train one seed at a time, so their time for 3 seeds is 3 times their one-seed time
(3 seeds run one after another; the jax-loop compiles once: its compilation plus 3 times its
loop). The "3 seeds" row compares our one call with 3 seeds against that, and the "per seed" row
(our wall time / 3) against that divided by 3, so the two rows have the same ratios. The
baselines run all epochs by default; with ``--baseline-epochs N`` they run ``N`` and their loop
time is extrapolated linearly to the full run. The NumPy baseline runs with BLAS limited to one
thread (``--blas-threads``): on a busy 2-core machine, multithreaded OpenBLAS on these small
matrices was 10-50 times slower and erratic, so one thread is the stronger, steadier baseline.
The JAX runtime is started (one trivial jitted call) before anything is timed. Every time is the
median of ``--repeats`` runs, the methods interleaved within each repeat so that machine noise
hits them alike; ratios are baseline seconds / our seconds (above 1: we are faster).

Correctness: both baselines start from the initial weights ``fit_*`` draws for the first seed
(``reln.models.init.seed_rng(seed, RELU_STREAM / GDLN_STREAM)`` with ``init_relu`` / ``init_gdln``, in
float32), and their loss after their last epoch is printed next to ours at the same epoch. The
NumPy gap is judged against float32 noise, the gap between the same NumPy loop run in float32
and in float64: OK when ``|ours - numpy| <= max(10 * |numpy32 - numpy64|, 1e-5 * loss)`` and the
losses at epoch 0 agree to 1e-5 (the same initial weights).

Run from the project root::

    .venv/bin/python benchmarks/bench_training.py              # about 2-3 minutes on 2 cores
    .venv/bin/python benchmarks/bench_training.py --quick      # smoke test, about 10 seconds
    .venv/bin/python benchmarks/bench_training.py --repeats 5 --baseline-epochs 1000
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from reln.training import fit
from reln.models import gdln, init, pathways
from reln.models import relu
from reln import tasks
from reln.models.losses import half_sse
from reln.training.trajectory import Trajectory

LR = 1e-3
EPOCHS = 8001
HIDDEN = 700
RELU_EVERY = 100
GDLN_EVERY = 10
STRUCTURES = ("hierarchy", "ring", "cross")


@dataclasses.dataclass(frozen=True)
class Problem:
    """One benchmark case: how we train it, and what the baselines need to train it alike."""

    name: str
    fit: Callable  # (seeds, epochs) -> Trajectory, through reln.training.fit
    weights: Callable  # seed -> that seed's float32 initial weights, as fit draws them
    objective: Callable  # params -> (objective, loss), one seed (jax-loop baseline)
    snapshot: Callable  # params -> dict of arrays, one seed (jax-loop baseline)
    every: int
    numpy_loop: Callable  # (weights, dtype, epochs) -> (losses, n_snapshots)


@dataclasses.dataclass(frozen=True)
class Run:
    """A baseline run: seconds of one-off setup, seconds of the epoch loop, losses per epoch."""

    setup: float
    loop: float
    losses: np.ndarray

    def extrapolated(self, epochs: int, seeds: int = 1) -> float:
        """Setup once plus the loop time scaled linearly to ``epochs`` and ``seeds`` seeds run
        one after another."""
        return self.setup + seeds * self.loop * epochs / (len(self.losses) - 1)


# --- the task and the two networks -------------------------------------------------------------


def task_arrays() -> tuple[tasks.Task, np.ndarray, np.ndarray]:
    """The "different structures" task and its ``X`` (11 x 24), ``Y`` (60 x 24) in float32."""
    task = tasks.contextual_task(8, 3, list(STRUCTURES))
    return task, task.X.astype(np.float32), task.Y.astype(np.float32)


def float32(weights: list[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(w, np.float32) for w in weights]


def relu_problem(task: tasks.Task, X: np.ndarray, Y: np.ndarray) -> Problem:
    """ReLU 11-700-60 trained on the half-SSE by ``fit_relu``, snapshots every 100 epochs."""
    sizes, init_std = (X.shape[0], HIDDEN, Y.shape[0]), 0.005 / HIDDEN
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)

    def fit_seeds(seeds, epochs):
        return fit.fit_relu(
            task, [HIDDEN], init_std, seeds=seeds, lr=LR, epochs=epochs, snapshot_every=RELU_EVERY
        )

    def weights(seed):
        return float32(init.init_relu(init.seed_rng(seed, init.RELU_STREAM), sizes, init_std))

    def objective(params):
        loss = half_sse(relu.relu_forward(params, Xj), Yj)
        return loss, loss

    def snapshot(params):
        return {
            "gates": relu.relu_gates(params, Xj)[0],
            "unit_weights": relu.unit_weights(params)[0],
            "output": relu.relu_forward(params, Xj),
        }

    def numpy_loop(params, dtype, epochs):
        return numpy_relu(params, X.astype(dtype), Y.astype(dtype), epochs, RELU_EVERY)

    return Problem(
        "ReLU 11-700-60", fit_seeds, weights, objective, snapshot, RELU_EVERY, numpy_loop
    )


def reln_pathways() -> list[pathways.Pathway]:
    """The paper's ReLN for three contexts: common, three single-context, three pair pathways."""
    common = pathways.Pathway(None, inputs="all", init_std=0.005 / HIDDEN, name="common")
    singles = [pathways.Pathway((k,), inputs="items", init_std=0.01 / HIDDEN) for k in range(3)]
    pairs = [
        pathways.Pathway(c, inputs="items", init_std=0.01 / HIDDEN) for c in ((0, 1), (1, 2), (0, 2))
    ]
    return [common, *singles, *pairs]


def gdln_problem(task: tasks.Task, X: np.ndarray, Y: np.ndarray) -> Problem:
    """The 7-pathway GDLN under the staged rule by ``fit_gdln``, singular values every 10 epochs."""
    net = pathways.build_gdln(reln_pathways(), task)
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)

    def fit_seeds(seeds, epochs):
        return fit.fit_gdln(
            task, net, rule="staged", seeds=seeds, lr=LR, epochs=epochs, snapshot_every=GDLN_EVERY
        )

    def weights(seed):
        return float32(pathways.init_gdln(init.seed_rng(seed, init.GDLN_STREAM), net))

    def objective(params):
        return gdln.gdln_objective(params, net, Xj, Yj, "staged")

    def snapshot(params):
        return {"singular_values": gdln.pathway_singular_values(params, net)}

    def numpy_loop(params, dtype, epochs):
        return numpy_gdln(params, net, X.astype(dtype), Y.astype(dtype), epochs, GDLN_EVERY)

    return Problem(
        "GDLN (ReLN), 7 pathways", fit_seeds, weights, objective, snapshot, GDLN_EVERY, numpy_loop
    )


# --- baseline (a): NumPy, hand-written gradients -----------------------------------------------


def numpy_relu(weights, X, Y, epochs: int, every: int) -> tuple[np.ndarray, int]:
    """Gradient descent on a one-hidden-layer ReLU net, one NumPy epoch per loop iteration."""
    W1, W2 = (np.array(w, dtype=X.dtype) for w in weights)
    lr = X.dtype.type(LR)
    losses, snapshots = np.empty(epochs + 1), []

    def snapshot(W1, W2):
        pre = W1 @ X
        return {
            "gates": pre > 0,
            "unit_weights": np.linalg.norm(W1, axis=1) * np.linalg.norm(W2, axis=0),
            "output": W2 @ np.maximum(pre, 0),
        }

    snapshots.append(snapshot(W1, W2))
    for t in range(epochs):
        pre = W1 @ X
        H = np.maximum(pre, 0)
        E = W2 @ H - Y
        losses[t] = 0.5 * np.sum(E * E)
        grad_W2 = E @ H.T
        grad_W1 = ((W2.T @ E) * (pre > 0)) @ X.T
        W1 -= lr * grad_W1
        W2 -= lr * grad_W2
        if (t + 1) % every == 0 or t + 1 == epochs:
            snapshots.append(snapshot(W1, W2))
    E = W2 @ np.maximum(W1 @ X, 0) - Y
    losses[epochs] = 0.5 * np.sum(E * E)
    return losses, len(snapshots)


def numpy_gdln(weights, net: pathways.GDLN, X, Y, epochs: int, every: int) -> tuple[np.ndarray, int]:
    """The staged rule on a two-layer GDLN, one NumPy epoch per iteration, a loop over pathways.

    Written for the ReLN above: every pathway has the same width and writes every output. The
    always-on pathways descend ``1/2 ||Yhat_B - Y||^2``; the others descend
    ``1/2 ||Yhat_R - (Y - Yhat_B)||^2``, whose residual is the total residual ``Yhat - Y``.
    """
    if len(weights) != 2 or len(set(net.widths[:, 0])) != 1 or not np.all(net.output_masks == 1):
        raise ValueError(
            "the NumPy GDLN baseline needs one hidden layer, equal widths, all outputs"
        )
    dtype, lr = X.dtype, X.dtype.type(LR)
    W_in = [np.array(w, dtype=dtype) for w in weights[0]]  # per pathway (width, n_in)
    W_out = [np.array(w, dtype=dtype) for w in weights[1]]  # per pathway (n_out, width)
    Xs = [(X * m[:, None]).astype(dtype) for m in net.input_masks]
    gates = [g.astype(dtype) for g in net.gates]
    base = list(net.always_on)
    pathways = range(len(W_in))
    losses, snapshots = np.empty(epochs + 1), []

    def singular_values():
        return np.linalg.svd(np.stack([W_out[p] @ W_in[p] for p in pathways]), compute_uv=False)

    def forward():
        hidden = [(W_in[p] @ Xs[p]) * gates[p] for p in pathways]
        base_out = sum(W_out[p] @ hidden[p] for p in pathways if base[p])
        rest_out = sum(W_out[p] @ hidden[p] for p in pathways if not base[p])
        return hidden, base_out, rest_out

    snapshots.append(singular_values())
    for t in range(epochs):
        hidden, base_out, rest_out = forward()
        error = base_out + rest_out - Y
        base_error = base_out - Y
        losses[t] = 0.5 * np.sum(error * error)
        for p in pathways:
            residual = base_error if base[p] else error
            grad_out = residual @ hidden[p].T
            grad_in = ((W_out[p].T @ residual) * gates[p]) @ Xs[p].T
            W_out[p] -= lr * grad_out
            W_in[p] -= lr * grad_in
        if (t + 1) % every == 0 or t + 1 == epochs:
            snapshots.append(singular_values())
    _, base_out, rest_out = forward()
    error = base_out + rest_out - Y
    losses[epochs] = 0.5 * np.sum(error * error)
    return losses, len(snapshots)


def time_numpy(problem: Problem, weights, epochs: int, blas_threads: int, dtype=np.float32) -> Run:
    """Run the NumPy loop with BLAS limited to ``blas_threads`` threads (0: the library default)."""
    with threadpool_limits(limits=blas_threads or None, user_api="blas"):
        began = time.perf_counter()
        losses, _ = problem.numpy_loop(weights, dtype, epochs)
        seconds = time.perf_counter() - began
    return Run(setup=0.0, loop=seconds, losses=losses)


# --- baseline (b): a Python loop over a jitted step --------------------------------------------


def time_jax_loop(problem: Problem, weights, epochs: int) -> Run:
    """Per-epoch Python loop over ``jax.jit(step)``, jitted snapshot every ``problem.every``.

    Compiling the step, the snapshot and the final loss is timed as setup. Losses stay on the
    device until the end (no per-epoch sync) and are then fetched one by one, since ``jnp.stack``
    of thousands of scalars is itself slow.
    """
    objective, lr = problem.objective, LR

    def step(params):
        (_, loss), grads = jax.value_and_grad(objective, has_aux=True)(params)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads), loss

    began = time.perf_counter()
    step, snapshot = jax.jit(step), jax.jit(problem.snapshot)
    loss_of = jax.jit(lambda params: objective(params)[1])
    jax.block_until_ready((step(weights), snapshot(weights), loss_of(weights)))  # compile all
    setup = time.perf_counter() - began

    began = time.perf_counter()
    params, losses, snapshots = weights, [], [snapshot(weights)]
    for t in range(epochs):
        params, loss = step(params)
        losses.append(loss)
        if (t + 1) % problem.every == 0 or t + 1 == epochs:
            snapshots.append(snapshot(params))
    losses.append(loss_of(params))
    losses = np.array([float(x) for x in losses])
    jax.device_get(snapshots)
    return Run(setup=setup, loop=time.perf_counter() - began, losses=losses)


# --- ours ----------------------------------------------------------------------------------------


def time_ours(problem: Problem, seeds: tuple[int, ...], epochs: int) -> tuple[float, Trajectory]:
    """Wall seconds of one ``fit_relu`` / ``fit_gdln`` call, everything included; its result."""
    began = time.perf_counter()
    trajectory = problem.fit(seeds, epochs)
    return time.perf_counter() - began, trajectory


# --- the benchmark -------------------------------------------------------------------------------


def bench_problem(
    problem: Problem, seed: int, epochs: int, baseline_epochs: int, repeats: int, blas_threads: int
) -> dict:
    """Every measurement of one problem, repeats interleaved across methods."""
    log = lambda msg: print(f"  {problem.name}: {msg}", file=sys.stderr, flush=True)  # noqa: E731
    one_seed, three_seeds = (seed,), (seed, seed + 1, seed + 2)
    weights = problem.weights(seed)  # what fit draws for the first seed
    weights_jax = [jnp.asarray(w) for w in weights]

    log("first call")
    first, trajectory = time_ours(problem, one_seed, epochs)
    later, three, execution, numpy_runs, jax_runs = [], [], [], [], []
    for r in range(repeats):
        log(f"repeat {r + 1}/{repeats}")
        seconds, later_trajectory = time_ours(problem, one_seed, epochs)
        later.append(seconds)
        execution.append(float(later_trajectory.seconds[0]))
        three.append(time_ours(problem, three_seeds, epochs)[0])
        numpy_runs.append(time_numpy(problem, weights, baseline_epochs, blas_threads))
        jax_runs.append(time_jax_loop(problem, weights_jax, baseline_epochs))
    log("float64 NumPy reference")
    reference = time_numpy(problem, weights, baseline_epochs, blas_threads, np.float64).losses

    return {
        "first": first,
        "later": statistics.median(later),
        "three": statistics.median(three),
        "execution": statistics.median(execution),
        "numpy": statistics.median(r.extrapolated(epochs) for r in numpy_runs),
        "numpy3": statistics.median(r.extrapolated(epochs, 3) for r in numpy_runs),
        "jax_loop": statistics.median(r.extrapolated(epochs) for r in jax_runs),
        "jax_loop3": statistics.median(r.extrapolated(epochs, 3) for r in jax_runs),
        "jax_setup": statistics.median(r.setup for r in jax_runs),
        "initial_ours": float(trajectory.loss[0, 0]),
        "initial_numpy": float(numpy_runs[0].losses[0]),
        "loss_ours": float(trajectory.loss[0, baseline_epochs]),
        "loss_numpy": float(numpy_runs[0].losses[-1]),
        "loss_jax_loop": float(jax_runs[0].losses[-1]),
        "loss_float64": float(reference[-1]),
    }


def format_table(
    results: dict[str, dict], epochs: int, baseline_epochs: int, repeats: int, blas_threads: int
) -> str:
    """The timing table and the loss check, as printed."""
    extrapolated = baseline_epochs < epochs
    head = (
        f"{'case':<48}{'ours [s]':>10}{'numpy [s]':>11}{'numpy/ours':>12}"
        f"{'jax-loop [s]':>14}{'jax-loop/ours':>15}"
    )
    lines = [
        f"reln.training.fit.fit_relu / fit_gdln vs per-epoch Python loops: {epochs} epochs, float32, "
        f"lr={LR}, median of {repeats} repeat(s)",
        "ours: wall time of the whole call (init, compilation on every call, for the GDLN the "
        "NumPy SVD); seeds on parallel threads",
        "baselines: one seed at a time, so their time for 3 seeds is 3 x their one-seed time "
        "(3 seeds run one after another; jax-loop compiles once: 3 x loop + compile); "
        + (
            f"run for {baseline_epochs} epochs and extrapolated linearly to {epochs} "
            "(jax-loop compile time added once, not scaled)"
            if extrapolated
            else f"run for all {epochs} epochs"
        ),
        f"numpy baseline: BLAS limited to {blas_threads or 'the default number of'} thread(s)",
        "",
        head,
        "-" * len(head),
    ]
    for name, res in results.items():
        one, three = (res["numpy"], res["jax_loop"]), (res["numpy3"], res["jax_loop3"])
        rows = [  # label, our seconds, the baselines' (numpy, jax-loop) seconds to compare with
            ("1 seed, first call in the process", res["first"], one),
            ("1 seed, later calls (compile again)", res["later"], one),
            ("3 seeds in one call, wall (vs 3 seeds in turn)", res["three"], three),
            ("3 seeds in one call, per seed (wall / 3)", res["three"] / 3, [t / 3 for t in three]),
            ("1 seed, execution only (Trajectory.seconds)", res["execution"], one),
        ]
        lines.append(name)
        for label, ours, (numpy_s, jax_s) in rows:
            lines.append(
                f"  {label:<46}{ours:>10.2f}{numpy_s:>11.2f}{numpy_s / ours:>11.2f}x"
                f"{jax_s:>14.2f}{jax_s / ours:>14.2f}x"
            )
        lines.append(f"  (jax-loop compile time included above: {res['jax_setup']:.2f} s)")
    lines += ["", f"loss after epoch {baseline_epochs}, first seed, same initial weights:"]
    for name, res in results.items():
        noise = abs(res["loss_numpy"] - res["loss_float64"])
        gap = abs(res["loss_numpy"] - res["loss_ours"])
        same_start = abs(res["initial_ours"] - res["initial_numpy"]) <= 1e-5 * res["initial_numpy"]
        close = gap <= max(10 * noise, 1e-5 * abs(res["loss_float64"]))
        verdict = "OK" if same_start and close else "MISMATCH"
        lines += [
            f"  {name:<26}ours {res['loss_ours']:.7g}   numpy {res['loss_numpy']:.7g}   "
            f"jax-loop {res['loss_jax_loop']:.7g}   numpy float64 {res['loss_float64']:.7g}",
            f"  {'':<26}|ours - numpy| = {gap:.2g}   "
            f"float32 noise |numpy32 - numpy64| = {noise:.2g}   {verdict}",
            f"  {'':<26}loss at epoch 0 (same start?): ours {res['initial_ours']:.7g}   "
            f"numpy {res['initial_numpy']:.7g}",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="repeats per measurement (median)")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="epochs of our runs")
    parser.add_argument(
        "--baseline-epochs", type=int, default=None,
        help="epochs the baselines run, extrapolated linearly to --epochs (default: all of them)",
    )
    parser.add_argument(
        "--blas-threads", type=int, default=1,
        help="BLAS threads of the NumPy baseline (0: library default; on a busy 2-core machine "
        "multithreaded OpenBLAS on these small matrices is 10-50x slower and erratic)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: 201 epochs, 1 repeat")
    parser.add_argument("--seed", type=int, default=0, help="first seed (3 seeds: seed..seed+2)")
    parser.add_argument("--only", choices=("relu", "gdln"), help="run one problem only")
    args = parser.parse_args(argv)
    epochs, repeats, baseline_epochs = args.epochs, args.repeats, args.baseline_epochs
    if args.quick:
        epochs, repeats, baseline_epochs = 201, 1, None
    baseline_epochs = epochs if baseline_epochs is None else min(baseline_epochs, epochs)
    if repeats < 1 or epochs < 1 or baseline_epochs < 1 or args.blas_threads < 0:
        parser.error("--repeats, --epochs, --baseline-epochs must be positive, --blas-threads >= 0")

    jax.block_until_ready(jax.jit(lambda x: x + 1)(jnp.zeros(1)))  # start the JAX runtime
    task, X, Y = task_arrays()
    problems = {"relu": relu_problem(task, X, Y), "gdln": gdln_problem(task, X, Y)}
    if args.only:
        problems = {args.only: problems[args.only]}
    began, load = time.perf_counter(), os.getloadavg()[0]
    results = {
        p.name: bench_problem(p, args.seed, epochs, baseline_epochs, repeats, args.blas_threads)
        for p in problems.values()
    }
    print(format_table(results, epochs, baseline_epochs, repeats, args.blas_threads))
    print(
        f"\n(total benchmark time {time.perf_counter() - began:.0f} s; 1-minute load average "
        f"{load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end, {os.cpu_count()} CPUs; "
        f"jax {jax.__version__}, numpy {np.__version__}, {jax.devices()[0].platform})"
    )


if __name__ == "__main__":
    main()

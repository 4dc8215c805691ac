"""Speed of ``reln.train.train`` against plain per-epoch loops, measured in the same run.

What is trained (the paper's "different structures" task, float32, lr = 1e-3, 8001 epochs):

* ``relu``: a ReLU network 11-700-60, init std 0.005/700, half-SSE loss, snapshot of the gate
  pattern, unit weights and output every 100 epochs.
* ``gdln``: the 7-pathway GDLN (the paper's ReLN): one always-on pathway reading every input
  (init std 0.005/700), three single-context and three context-pair pathways reading the items
  (init std 0.01/700), the ``staged`` rule, singular values of every pathway's map every 10 epochs.

How each is run:

* ``ours``: ``reln.train.train`` on parameters with a leading seed axis. Its wall time includes
  compilation, which is what a user waits for; ``train`` builds fresh jitted closures on every
  call, so a later call in the same process compiles again. Reported: the first call for the
  problem in this process, the median of the later calls, 3 seeds in one vmapped call (time per
  seed), and, for reference, execution alone with the compiled functions reused (this uses
  train's private ``_compile``/``_run_batch``).
* ``numpy``: a per-epoch Python loop, NumPy forward/backward with hand-written gradients (for the
  GDLN: a loop over pathways and ``np.linalg.svd`` every 10 epochs).
* ``jax-loop``: a per-epoch Python loop calling a ``jax.jit``-compiled single step (the "obvious
  JAX" way) and a jitted snapshot at the same epochs. Its compilation (the first step) is timed
  separately and added once.

The baselines run all epochs by default; with ``--baseline-epochs N`` they run ``N`` and their
loop time is extrapolated linearly to the full run. They train one seed at a time, so their time
per seed is their one-seed time. The NumPy baseline runs with BLAS limited to one thread
(``--blas-threads``): on a busy 2-core machine, multithreaded OpenBLAS on these small matrices was
10-50 times slower and erratic, so one thread is the stronger, steadier baseline. The JAX runtime
is started (one trivial jitted call) before anything is timed. Every time is the median of
``--repeats`` runs, the methods interleaved within each repeat so that machine noise hits them
alike; ratios are baseline seconds / our seconds (above 1: we are faster).

Correctness: both baselines start from our initial weights (first seed) and their loss after
their last epoch is printed next to ours at the same epoch. The NumPy gap is judged against
float32 noise, the gap between the same NumPy loop run in float32 and in float64: OK when
``|ours - numpy| <= max(10 * |numpy32 - numpy64|, 1e-5 * loss)``.

Run from the project root::

    .venv/bin/python benchmarks/bench_training.py              # about 2 minutes on 2 cores
    .venv/bin/python benchmarks/bench_training.py --quick      # smoke test, about 20 seconds
    .venv/bin/python benchmarks/bench_training.py --repeats 5 --baseline-epochs 1000
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import statistics
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from reln import gdln, relu, tasks
from reln.losses import half_sse
from reln.train import Trajectory, train

LR = 1e-3
EPOCHS = 8001
HIDDEN = 700
RELU_EVERY = 100
GDLN_EVERY = 10
STRUCTURES = ("hierarchy", "ring", "cross")


@dataclasses.dataclass(frozen=True)
class Problem:
    """One benchmark case: what to train, from where, and how to snapshot it."""

    name: str
    objective: Callable  # params -> (objective, loss), one seed
    snapshot: Callable  # params -> dict of arrays, one seed
    every: int
    init: Callable  # (seed, n_seeds) -> params with a leading seed axis
    numpy_loop: Callable  # (weights, dtype, epochs) -> (losses, n_snapshots)


@dataclasses.dataclass(frozen=True)
class Run:
    """A baseline run: seconds of one-off setup, seconds of the epoch loop, losses per epoch."""

    setup: float
    loop: float
    losses: np.ndarray

    def extrapolated(self, epochs: int) -> float:
        """Setup plus the loop time scaled linearly to ``epochs``."""
        return self.setup + self.loop * epochs / (len(self.losses) - 1)


# --- the task and the two networks -------------------------------------------------------------


def task_arrays() -> tuple[tasks.Task, np.ndarray, np.ndarray]:
    """The "different structures" task and its ``X`` (11 x 24), ``Y`` (60 x 24) in float32."""
    task = tasks.contextual_task(8, 3, list(STRUCTURES))
    return task, task.X.astype(np.float32), task.Y.astype(np.float32)


def stacked_init(draw: Callable, seed: int, n_seeds: int) -> list[jax.Array]:
    """Float32 weights of seeds ``seed .. seed + n_seeds - 1`` stacked on a leading seed axis.

    ``draw(rng)`` returns one seed's list of weight arrays from a ``numpy.random.Generator``.
    """
    per_seed = [draw(np.random.default_rng([s, 0])) for s in range(seed, seed + n_seeds)]
    return [jnp.asarray(np.stack(layer), jnp.float32) for layer in zip(*per_seed)]


def relu_problem(X: np.ndarray, Y: np.ndarray) -> Problem:
    """ReLU 11-700-60 trained on the half-SSE, snapshots of gates / unit weights / output."""
    sizes = (X.shape[0], HIDDEN, Y.shape[0])
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)

    def objective(weights):
        loss = half_sse(relu.relu_forward(weights, Xj), Yj)
        return loss, loss

    def snapshot(weights):
        return {
            "gates": relu.relu_gates(weights, Xj)[0],
            "unit_weights": relu.unit_weights(weights)[0],
            "output": relu.relu_forward(weights, Xj),
        }

    def init(seed, n_seeds):
        return stacked_init(lambda rng: relu.init_relu(rng, sizes, 0.005 / HIDDEN), seed, n_seeds)

    def numpy_loop(weights, dtype, epochs):
        return numpy_relu(weights, X.astype(dtype), Y.astype(dtype), epochs, RELU_EVERY)

    return Problem("ReLU 11-700-60", objective, snapshot, RELU_EVERY, init, numpy_loop)


def reln_pathways() -> list[gdln.Pathway]:
    """The paper's ReLN for three contexts: common, three single-context, three pair pathways."""
    common = gdln.Pathway(None, inputs="all", init_std=0.005 / HIDDEN, name="common")
    singles = [gdln.Pathway((k,), inputs="items", init_std=0.01 / HIDDEN) for k in range(3)]
    pairs = [
        gdln.Pathway(c, inputs="items", init_std=0.01 / HIDDEN) for c in ((0, 1), (1, 2), (0, 2))
    ]
    return [common, *singles, *pairs]


def gdln_problem(task: tasks.Task, X: np.ndarray, Y: np.ndarray) -> Problem:
    """The 7-pathway GDLN under the staged rule, singular values of every pathway's map."""
    net = gdln.build_gdln(reln_pathways(), task)
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)

    def objective(weights):
        return gdln.gdln_objective(weights, net, Xj, Yj, "staged")

    def snapshot(weights):
        return {"singular_values": gdln.pathway_singular_values(weights, net)}

    def init(seed, n_seeds):
        return stacked_init(lambda rng: gdln.init_gdln(rng, net), seed, n_seeds)

    def numpy_loop(weights, dtype, epochs):
        return numpy_gdln(weights, net, X.astype(dtype), Y.astype(dtype), epochs, GDLN_EVERY)

    return Problem("GDLN (ReLN), 7 pathways", objective, snapshot, GDLN_EVERY, init, numpy_loop)


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


def numpy_gdln(weights, net: gdln.GDLN, X, Y, epochs: int, every: int) -> tuple[np.ndarray, int]:
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


def time_ours(problem: Problem, params, epochs: int) -> tuple[float, Trajectory]:
    """Wall seconds of one ``train`` call (compilation included) and its trajectory."""
    began = time.perf_counter()
    trajectory = train(
        problem.objective, params, lr=LR, epochs=epochs,
        snapshot=problem.snapshot, snapshot_every=problem.every,
    )
    return time.perf_counter() - began, trajectory


def ours_executor(problem: Problem, params, epochs: int) -> Callable[[], float] | None:
    """A timer of one run with train's compiled functions reused, compiled here; None if the
    private API (``_compile``/``_run_batch``) it relies on has changed."""
    module = importlib.import_module("reln.train")  # the package re-exports train() as reln.train
    try:
        compiled = module._compile(problem.objective, problem.snapshot, LR, problem.every, epochs)
        run_batch = module._run_batch
        run_batch(compiled, params, epochs, problem.every, LR, lambda e: None)  # compiles
    except (AttributeError, TypeError) as error:
        print(f"  execution-only timing skipped: {error}", file=sys.stderr)
        return None

    def timed() -> float:
        began = time.perf_counter()
        run_batch(compiled, params, epochs, problem.every, LR, lambda e: None)
        return time.perf_counter() - began

    return timed


# --- the benchmark -------------------------------------------------------------------------------


def one_seed_weights(params) -> list[np.ndarray]:
    return [np.asarray(p[0]) for p in params]


def bench_problem(
    problem: Problem, seed: int, epochs: int, baseline_epochs: int, repeats: int, blas_threads: int
) -> dict:
    """Every measurement of one problem, repeats interleaved across methods."""
    log = lambda msg: print(f"  {problem.name}: {msg}", file=sys.stderr, flush=True)  # noqa: E731
    params1, params3 = problem.init(seed, 1), problem.init(seed, 3)
    weights = one_seed_weights(params1)
    weights_jax = jax.tree_util.tree_map(lambda p: p[0], params1)

    log("first train() call")
    first, trajectory = time_ours(problem, params1, epochs)
    executor = ours_executor(problem, params1, epochs)
    later, three, execution, numpy_runs, jax_runs = [], [], [], [], []
    for r in range(repeats):
        log(f"repeat {r + 1}/{repeats}")
        later.append(time_ours(problem, params1, epochs)[0])
        three.append(time_ours(problem, params3, epochs)[0] / 3)
        if executor is not None:
            execution.append(executor())
        numpy_runs.append(time_numpy(problem, weights, baseline_epochs, blas_threads))
        jax_runs.append(time_jax_loop(problem, weights_jax, baseline_epochs))
    log("float64 NumPy reference")
    reference = time_numpy(problem, weights, baseline_epochs, blas_threads, np.float64).losses

    return {
        "first": first,
        "later": statistics.median(later),
        "three": statistics.median(three),
        "execution": statistics.median(execution) if execution else None,
        "numpy": statistics.median(r.extrapolated(epochs) for r in numpy_runs),
        "jax_loop": statistics.median(r.extrapolated(epochs) for r in jax_runs),
        "jax_setup": statistics.median(r.setup for r in jax_runs),
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
        f"{'case':<44}{'ours [s]':>10}{'numpy [s]':>11}{'numpy/ours':>12}"
        f"{'jax-loop [s]':>14}{'jax-loop/ours':>15}"
    )
    lines = [
        f"reln.train.train vs per-epoch Python loops: {epochs} epochs, float32, lr={LR}, "
        f"median of {repeats} repeat(s)",
        f"baselines: one seed at a time; "
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
        rows = [
            ("1 seed, first train() call", res["first"]),
            ("1 seed, later train() calls (recompiles)", res["later"]),
            ("3 seeds vmapped, per seed", res["three"]),
            ("1 seed, execution only (compile reused)", res["execution"]),
        ]
        lines.append(name)
        for label, ours in rows:
            if ours is None:
                lines.append(f"  {label:<42}{'n/a':>10}")
                continue
            lines.append(
                f"  {label:<42}{ours:>10.2f}{res['numpy']:>11.2f}{res['numpy'] / ours:>11.2f}x"
                f"{res['jax_loop']:>14.2f}{res['jax_loop'] / ours:>14.2f}x"
            )
        lines.append(f"  (jax-loop compile time included above: {res['jax_setup']:.2f} s)")
    lines += ["", f"loss after epoch {baseline_epochs}, first seed, same initial weights:"]
    for name, res in results.items():
        noise = abs(res["loss_numpy"] - res["loss_float64"])
        gap = abs(res["loss_numpy"] - res["loss_ours"])
        verdict = "OK" if gap <= max(10 * noise, 1e-5 * abs(res["loss_float64"])) else "MISMATCH"
        lines += [
            f"  {name:<26}ours {res['loss_ours']:.7g}   numpy {res['loss_numpy']:.7g}   "
            f"jax-loop {res['loss_jax_loop']:.7g}   numpy float64 {res['loss_float64']:.7g}",
            f"  {'':<26}|ours - numpy| = {gap:.2g}   "
            f"float32 noise |numpy32 - numpy64| = {noise:.2g}   {verdict}",
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
    parser.add_argument("--seed", type=int, default=0)
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
    problems = {"relu": relu_problem(X, Y), "gdln": gdln_problem(task, X, Y)}
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

"""Tests of reln.training.train: theory against simulation, the time convention, seeds, batching, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reln.errors import RelnError
from reln.models.pathways import Pathway, build_gdln, init_gdln
from reln.models.gdln import gdln_forward, gdln_objective, pathway_maps, pathway_singular_values
from reln.models.losses import half_sse
from reln.tasks import Task, contextual_task
from reln.training.train import snapshot_schedule, train


def plain_task(X: np.ndarray, Y: np.ndarray) -> Task:
    P = X.shape[1]
    return Task(
        X=X,
        Y=Y,
        item=np.arange(P),
        context=np.zeros(P, dtype=int),
        n_items=P,
        n_contexts=1,
        item_inputs=np.ones(X.shape[0], dtype=bool),
        output_blocks=(("all", 0, Y.shape[0]),),
        sample_names=tuple(str(p) for p in range(P)),
        name="plain",
    )


def closed_form(s, d, pi0, t, tau):
    """docs/theory.md §2: pi(t) = (s/d) / [1 - (1 - s/(d pi0)) exp(-2 s t / tau)]."""
    s, d = np.asarray(s)[None, :], np.asarray(d)
    t = np.asarray(t, dtype=float)[:, None]
    return (s / d) / (1 - (1 - s / (d * pi0)) * np.exp(-2 * s * t / tau))


# ---------------------------------------------------------------------------------------------
# Theory against simulation


def _aligned_linear_run(lr, epochs, pi0, a, y, width=4, seed=0):
    """One always-on two-layer linear pathway on a whitened task, started balanced and aligned.

    X = a Q with Q orthogonal (P = n_in = 6), so Sigma^x = X X^T / P = (a^2 / P) I: every mode has
    d = a^2 / P. Y = U0 diag(y) W0^T has rank 3, and Sigma^yx = Y X^T / P = U diag(s) V^T with
    s = a y / P. The weights W_0 = sqrt(pi0) R V^T, W_1 = U sqrt(pi0) R^T (R: 3 orthonormal
    columns in the hidden space) are balanced (W_1^T W_1 = W_0 W_0^T) and aligned, so Assumption
    2.1 holds exactly and every mode's end-to-end singular value starts at pi0.
    """
    rng = np.random.default_rng(seed)
    P, n_out, r = 6, 5, len(y)
    Q = np.linalg.qr(rng.normal(size=(P, P)))[0]
    U0 = np.linalg.qr(rng.normal(size=(n_out, r)))[0]
    V0 = np.linalg.qr(rng.normal(size=(P, r)))[0]
    X = a * Q
    Y = U0 @ np.diag(y) @ V0.T
    task = plain_task(X, Y)
    U, s, Vt = np.linalg.svd(Y @ X.T / P)
    R = np.linalg.qr(rng.normal(size=(width, width)))[0][:, :r]
    W0 = np.sqrt(pi0) * R @ Vt[:r]
    W1 = U[:, :r] @ (np.sqrt(pi0) * R.T)
    np.testing.assert_allclose(W1.T @ W1, W0 @ W0.T, atol=1e-15)  # balanced

    gdln = build_gdln([Pathway(hidden=(width,))], task)
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)
    traj = train(
        lambda w: gdln_objective(w, gdln, Xj, Yj, "total"),
        [jnp.asarray(W0[None, None]), jnp.asarray(W1[None, None])],
        lr=lr,
        epochs=epochs,
        snapshot=lambda w: {"sv": pathway_singular_values(w, gdln)[0]},
        snapshot_every=10,
    )
    d = a**2 / P
    return traj, s[:r], d, P


def test_aligned_linear_pathway_follows_closed_form():
    """Singular values of a GD-trained linear pathway follow pi(t) of docs/theory.md §2, tau = 1/(P lr).

    Tolerance reasoning. With balanced, aligned weights GD acts on each mode exactly as the map
    b <- b (1 + h), h = lr a (y - a b^2), i.e. forward Euler on the flow; nothing else differs
    from the theory. Per step the growth factor (1 + h)^2 differs from e^{2h} by a relative O(h^2),
    which accumulates over the rise to a relative error in pi of about
    h_max ln(s / (d pi0)) / 2 (h_max = lr a y_max = 7.5e-3 at lr = 2e-3: ~3.5%), a time shift of
    ~2 epochs, hence an error of ~1% of the asymptote on the steep part of the sigmoid and
    vanishing at t = 0 and t -> inf (measured: 0.75% at lr = 2e-3). We allow 1.5% of each mode's
    asymptote (1.5% of L(0) for the loss) and check that the error is discretisation error: it
    halves when lr halves (same physical time t lr). A tau wrong by 10% shifts the rise by
    ~150 epochs, an error of over 20% of the asymptote, so the tolerance has teeth.
    """
    a, y, pi0 = 1.25, np.array([3.0, 2.0, 1.2]), 1e-4
    errors = []
    with jax.enable_x64(True):
        for lr, epochs in [(2e-3, 3500), (1e-3, 7000)]:
            traj, s, d, P = _aligned_linear_run(lr, epochs, pi0, a, y)
            np.testing.assert_allclose(s / d, y / a, rtol=1e-12)  # asymptotes are y / a
            t = traj.snapshot_epochs
            theory = closed_form(s, d, pi0, t, tau=1 / (P * lr))
            sim = traj.snapshots["sv"][0]
            assert sim.shape == (len(t), 5)
            # The two modes absent from Y stay at exactly zero (up to SVD round-off).
            assert np.abs(sim[:, 3:]).max() < 1e-12
            np.testing.assert_allclose(sim[0, :3], pi0, rtol=1e-10)  # t = 0 identity
            np.testing.assert_allclose(sim[-1, :3], y / a, rtol=1e-4)  # t -> inf identity
            err = np.abs(sim[:, :3] - theory) / (y / a)
            assert err.max() < 0.015, f"lr={lr}: max relative error {err.max():.4f}"
            errors.append(err.max())

            # The loss is 1/2 sum_k (a pi_k - y_k)^2 (Y has no other component).
            sim_loss = traj.loss[0, t]
            theory_loss = 0.5 * np.sum((a * theory - y) ** 2, axis=1)
            assert np.abs(sim_loss - theory_loss).max() < 0.015 * traj.loss[0, 0]
            assert traj.loss[0, 0] == pytest.approx(0.5 * np.sum((a * pi0 - y) ** 2), rel=1e-12)
    ratio = errors[0] / errors[1]
    assert 1.6 < ratio < 2.5, f"error ratio {ratio:.2f} at lr 2e-3 vs 1e-3 is not first order"


# ---------------------------------------------------------------------------------------------
# Time convention and snapshots


def _small_gdln(x64=True):
    task = contextual_task(4, 2, "hierarchy")
    gdln = build_gdln(
        [Pathway(hidden=(3,), init_std=0.3), Pathway(contexts=(1,), inputs="items", hidden=(2,), init_std=0.3)],
        task,
    )
    return task, gdln


def _stacked_init(gdln, seeds):
    per_seed = [init_gdln(np.random.default_rng(s), gdln) for s in seeds]
    return [jnp.asarray(np.stack(layer)) for layer in zip(*per_seed)]


def _manual_gd(weights, objective, lr, epochs):
    """Reference loop: states[t] is the state after t updates, losses[t] its recorded loss."""
    grad = jax.jit(jax.grad(lambda w: objective(w)[0]))
    loss = jax.jit(lambda w: objective(w)[1])
    states, losses = [weights], [float(loss(weights))]
    for _ in range(epochs):
        weights = [w - lr * g for w, g in zip(weights, grad(weights))]
        states.append(weights)
        losses.append(float(loss(weights)))
    return states, np.array(losses)


@pytest.mark.parametrize("rule", ["total", "staged"])
def test_trajectory_matches_manual_gradient_descent(rule):
    """loss has epochs + 1 entries, loss[t] is the loss after t updates (loss[0] at init), the
    final params are the state after `epochs` updates, and each snapshot is taken of the state at
    its listed epoch."""
    epochs, every, lr = 11, 4, 0.05
    with jax.enable_x64(True):
        task, gdln = _small_gdln()
        X, Y = jnp.asarray(task.X), jnp.asarray(task.Y)

        def objective(w):
            return gdln_objective(w, gdln, X, Y, rule)

        params = _stacked_init(gdln, [7])
        traj = train(
            objective,
            params,
            lr=lr,
            epochs=epochs,
            snapshot=lambda w: {"yhat": gdln_forward(w, gdln, X), "w0": w[0]},
            snapshot_every=every,
        )
        states, losses = _manual_gd([p[0] for p in params], objective, lr, epochs)
        assert traj.loss.shape == (1, epochs + 1)
        init_loss = float(half_sse(gdln_forward([p[0] for p in params], gdln, X), Y))
        assert traj.loss[0, 0] == pytest.approx(init_loss, rel=1e-12)
        np.testing.assert_allclose(traj.loss[0], losses, rtol=1e-10)
        assert np.all(np.diff(traj.loss[0]) < 0)  # small lr: the loss decreases every epoch
        for W, W_ref in zip(traj.final_params, states[-1]):
            np.testing.assert_allclose(W[0], np.asarray(W_ref), rtol=1e-10, atol=1e-13)
        assert traj.snapshot_epochs[0] == 0 and traj.snapshot_epochs[-1] == epochs
        for k, t in enumerate(traj.snapshot_epochs):
            np.testing.assert_allclose(
                traj.snapshots["yhat"][0, k], np.asarray(gdln_forward(states[t], gdln, X)), rtol=1e-10, atol=1e-12
            )
            np.testing.assert_allclose(traj.snapshots["w0"][0, k], np.asarray(states[t][0]), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize(
    "epochs, every, expected",
    [
        (12, 4, [0, 4, 8, 12]),
        (5, 1, [0, 1, 2, 3, 4, 5]),
        (7, 100, [0, 7]),
        (1, 1, [0, 1]),
        (3, 2, [0, 2, 3]),
        (10, 3, [0, 3, 6, 9, 10]),
        (23, 5, [0, 5, 10, 15, 20, 23]),
    ],
)
def test_snapshot_schedule(epochs, every, expected):
    """Snapshots at every multiple of `every` up to `epochs`, plus `epochs` itself (DESIGN.md)."""
    np.testing.assert_array_equal(snapshot_schedule(epochs, every), expected)


def test_snapshot_epochs_of_a_run():
    with jax.enable_x64(True):
        task, gdln = _small_gdln()
        X, Y = jnp.asarray(task.X), jnp.asarray(task.Y)
        traj = train(
            lambda w: gdln_objective(w, gdln, X, Y),
            _stacked_init(gdln, [0, 1]),
            lr=0.01,
            epochs=23,
            snapshot=lambda w: {"loss": half_sse(gdln_forward(w, gdln, X), Y)},
            snapshot_every=5,
        )
    np.testing.assert_array_equal(traj.snapshot_epochs, snapshot_schedule(23, 5))
    assert traj.snapshots["loss"].shape == (2, len(traj.snapshot_epochs))
    # A snapshot of the loss at epoch t is the recorded loss at index t.
    np.testing.assert_allclose(traj.snapshots["loss"], traj.loss[:, traj.snapshot_epochs], rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Seeds, batching, progress


def _run_seeds(seeds, snapshot="svd", **kwargs):
    """``snapshot="svd"`` contains a LAPACK call (runs one at a time); ``"maps"`` does not."""
    task, gdln = _small_gdln()
    X, Y = jnp.asarray(task.X), jnp.asarray(task.Y)
    records = {
        "svd": lambda w: {"sv": pathway_singular_values(w, gdln)},
        "maps": lambda w: {"sv": pathway_maps(w, gdln)},
    }[snapshot]
    return train(
        lambda w: gdln_objective(w, gdln, X, Y, "staged"),
        _stacked_init(gdln, seeds),
        lr=0.02,
        epochs=50,
        snapshot=records,
        snapshot_every=10,
        **kwargs,
    )


SEEDS = [3, 4, 5]


@pytest.fixture(scope="module")
def seed_runs():
    """The same 3 seeds run vmapped, in sequence (memory_budget=1), on two threads, and one by
    one, with the progress calls of each (every train call compiles, so the runs are shared)."""
    calls = {"batched": [], "sequential": [], "alone": [], "threads": []}

    def recorder(name):
        return lambda done, total: calls[name].append((done, total))

    with jax.enable_x64(True):
        runs = {
            "batched": _run_seeds(SEEDS, seeds_per_group=3, progress=recorder("batched")),
            "threads": _run_seeds(SEEDS, snapshot="maps", seeds_per_group=1, workers=2, progress=recorder("threads")),
            "threads_alone": [_run_seeds([s], snapshot="maps") for s in SEEDS],
            "sequential": _run_seeds(SEEDS, memory_budget=1, progress=recorder("sequential")),
            "alone": [_run_seeds([SEEDS[0]], progress=recorder("alone"))]
            + [_run_seeds([s]) for s in SEEDS[1:]],
        }
    return runs, calls


def test_vmapped_seeds_equal_separate_runs(seed_runs):
    runs, _ = seed_runs
    together = runs["batched"]
    assert together.loss.shape == (3, 51) and together.seconds.shape == (3,)
    for i, run in enumerate(runs["alone"]):
        np.testing.assert_allclose(together.loss[i], run.loss[0], rtol=1e-10)
        np.testing.assert_allclose(together.snapshots["sv"][i], run.snapshots["sv"][0], rtol=1e-10, atol=1e-12)
        for x, y in zip(together.final_params, run.final_params):
            np.testing.assert_allclose(x[i], y[0], rtol=1e-10, atol=1e-12)
    # Different seeds really differ.
    assert not np.allclose(together.loss[0], together.loss[1])


def test_seeds_on_threads_equal_separate_runs(seed_runs):
    """One seed per group on two threads: bit for bit the single-seed runs, progress to the end."""
    runs, calls = seed_runs
    for i, run in enumerate(runs["threads_alone"]):
        np.testing.assert_array_equal(runs["threads"].loss[i], run.loss[0])
        np.testing.assert_array_equal(runs["threads"].snapshots["sv"][i], run.snapshots["sv"][0])
    assert calls["threads"][-1] == (150, 150)
    done = [d for d, _ in calls["threads"]]
    assert done == sorted(done)


def test_small_memory_budget_runs_seeds_in_sequence_with_same_result(seed_runs):
    runs, calls = seed_runs
    batched, sequential = runs["batched"], runs["sequential"]
    np.testing.assert_allclose(batched.loss, sequential.loss, rtol=1e-10)
    np.testing.assert_allclose(batched.snapshots["sv"], sequential.snapshots["sv"], rtol=1e-10, atol=1e-12)
    for x, y in zip(batched.final_params, sequential.final_params):
        np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12)
    # One seed at a time is the single-seed computation, bit for bit.
    for i, run in enumerate(runs["alone"]):
        np.testing.assert_array_equal(sequential.loss[i], run.loss[0])
        for x, y in zip(sequential.final_params, run.final_params):
            np.testing.assert_array_equal(x[i], y[0])
    # Sequential batches report progress seed by seed: 50 of 150 epochs after the first seed.
    assert {50, 100, 150} <= {d for d, _ in calls["sequential"]}
    assert not ({50, 100} & {d for d, _ in calls["batched"]})


@pytest.mark.parametrize("name, n_seeds", [("batched", 3), ("sequential", 3), ("alone", 1)])
def test_progress_reports_to_the_end(seed_runs, name, n_seeds):
    _, calls = seed_runs
    calls = calls[name]
    total = 50 * n_seeds
    assert calls[-1] == (total, total)
    assert all(t == total for _, t in calls)
    done = [d for d, _ in calls]
    assert done == sorted(done) and 0 < done[0] <= total


# ---------------------------------------------------------------------------------------------
# Divergence and bad arguments


@pytest.mark.parametrize("epochs, every", [(600, 100), (600, 7), (515, 100), (512, 512)])
def test_divergence_names_the_epoch(epochs, every):
    """f(w) = w^2 / 2 with lr = 3: w_t = 1.5 (-2)^t, so w_t^2 = 2.25 * 4^t is finite up to
    t = 511 (1.125 * 2^1023) and overflows float64 at t = 512. The loss recorded at index t is
    that of w_t, so the first non-finite loss is at epoch 512, wherever it falls among the
    blocks of snapshots and the tail."""

    def objective(w):
        loss = 0.5 * jnp.sum(w**2)
        return loss, loss

    with jax.enable_x64(True):
        with pytest.raises(RelnError, match=r"\bepoch 512\b"):
            train(objective, jnp.full((1, 1), 1.5), lr=3.0, epochs=epochs, snapshot_every=every)
        # One epoch short of the overflow is fine.
        traj = train(objective, jnp.full((1, 1), 1.5), lr=3.0, epochs=511, snapshot_every=every)
        assert traj.loss[0, -1] == pytest.approx(0.5 * 2.25 * 4.0**511, rel=1e-12)


def test_divergence_of_a_gdln_with_huge_lr():
    with jax.enable_x64(True):
        task, gdln = _small_gdln()
        X, Y = jnp.asarray(task.X), jnp.asarray(task.Y)
        with pytest.raises(RelnError, match=r"diverged.*epoch \d+.*lr=50"):
            train(lambda w: gdln_objective(w, gdln, X, Y), _stacked_init(gdln, [0, 1]), lr=50.0, epochs=200)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": 0.0, "epochs": 5},
        {"lr": -0.1, "epochs": 5},
        {"lr": np.nan, "epochs": 5},
        {"lr": np.inf, "epochs": 5},
        {"lr": 0.1, "epochs": 0},
        {"lr": 0.1, "epochs": 2.5},
        {"lr": 0.1, "epochs": 5, "snapshot_every": 0},
    ],
)
def test_bad_arguments(kwargs):
    def objective(w):
        loss = 0.5 * jnp.sum(w**2)
        return loss, loss

    with pytest.raises(RelnError):
        train(objective, jnp.ones((1, 2)), **kwargs)


# --- mini-batch SGD ---------------------------------------------------------------------------

def _sgd_task():
    return contextual_task(8, 3, "hierarchy")


def test_minibatch_same_seed_same_bits_and_seeds_differ():
    from reln.training.fit import fit_relu

    task = _sgd_task()
    kw = dict(seeds=(0, 1), lr=3e-3, epochs=301, snapshot_every=100, batch_size=4)
    a, b = fit_relu(task, (50,), 0.01, **kw), fit_relu(task, (50,), 0.01, **kw)
    assert np.array_equal(a.loss, b.loss)
    assert np.array_equal(a.final_params[0], b.final_params[0])
    full = fit_relu(task, (50,), 0.01, seeds=(0, 1), lr=3e-3, epochs=301, snapshot_every=100)
    assert not np.array_equal(a.loss[:, -1], full.loss[:, -1])  # the batches change the path


def test_batch_of_every_sample_is_full_batch():
    from reln.training.fit import fit_relu

    task = _sgd_task()
    kw = dict(seeds=(0,), lr=3e-3, epochs=201, snapshot_every=100)
    assert np.array_equal(fit_relu(task, (30,), 0.01, batch_size=task.P, **kw).loss, fit_relu(task, (30,), 0.01, **kw).loss)


def test_minibatch_epochs_follow_the_gradient_flow_to_first_order_in_lr():
    """One epoch of batches sums the batch gradients to the full one: at small lr the loss per
    epoch tracks full-batch descent, and the deviation grows with lr (it is second order per epoch)."""
    from reln.training.fit import fit_relu

    task = _sgd_task()

    def gap(lr):
        kw = dict(seeds=(0,), lr=lr, epochs=1501, snapshot_every=500)
        full = fit_relu(task, (100,), 0.01, **kw).loss
        sgd = fit_relu(task, (100,), 0.01, batch_size=1, **kw).loss
        return float(np.abs(sgd - full).max() / full[0, 0])

    small, large = gap(1e-3), gap(3e-3)
    assert small < 0.02
    assert large > 1.5 * small


def test_minibatch_gdln_and_divergence():
    from reln.training.fit import fit_gdln

    task = _sgd_task()
    gdln = build_gdln([Pathway(hidden=(20,), init_std=0.01)], task)
    traj = fit_gdln(task, gdln, seeds=(0,), lr=3e-3, epochs=201, snapshot_every=100, batch_size=5)
    assert traj.loss[0, -1] < traj.loss[0, 0]
    with pytest.raises(RelnError, match="diverged"):
        fit_gdln(task, gdln, seeds=(0,), lr=5.0, epochs=201, snapshot_every=100, batch_size=5)


def test_minibatch_size_must_be_positive():
    from reln.training.train import MiniBatch

    with pytest.raises(RelnError, match="mini-batch size"):
        MiniBatch(0)


def test_gated_network_on_the_relus_batches_is_the_relu_in_its_linear_region():
    """A ReLU network whose pre-activations all stay positive is a linear network, so the unit-gated
    network with every gate open, trained on the same mini-batches (the batch order of each run seed),
    is the same run to float64 precision; on full batches it is not (the batches change the path)."""
    from reln.models.init import relu_initial_weights
    from reln.relns.unit_gated import fit_gate_schedules

    task = _sgd_task()
    seeds, kw = (3, 5), dict(lr=2e-3, epochs=60)
    with jax.enable_x64(True):
        # positive first-layer weights on one-hot inputs: every pre-activation positive at the start
        initial = [[np.abs(w_in) + 0.5, w_out] for w_in, w_out in relu_initial_weights(task, (12,), 0.1, seeds)]
        open_all = [(np.array([0]), [np.ones((1, 12, task.P))], [np.zeros((1, 12, task.P), bool)])] * len(seeds)
        gated_sgd, _ = fit_gate_schedules(task, open_all, initial, x64=True, batch_size=5, seeds=seeds, **kw)
        gated_full, _ = fit_gate_schedules(task, open_all, initial, x64=True, seeds=seeds, **kw)
        relu_sgd = _relu_from(task, initial, seeds, batch_size=5, **kw)
    assert (relu_sgd["pre"] > 0).all()  # the precondition: the ReLU never left its linear region
    np.testing.assert_allclose(gated_sgd.loss, relu_sgd["loss"], rtol=1e-10)
    assert np.abs(gated_full.loss[:, -1] - relu_sgd["loss"][:, -1]).min() > 1e-6 * relu_sgd["loss"][0, 0]


def _relu_from(task, initial, seeds, *, batch_size, lr, epochs):
    """Mini-batch SGD of a bias-free ReLU network from given weights, with the batch order of
    :func:`reln.training.fit.batching`: every epoch's loss and every pre-activation on the way."""
    from reln.models.relu import relu_forward, relu_preactivations
    from reln.training.fit import batching

    params = [np.stack(layer) for layer in zip(*initial)]
    X, Y = task.X.astype(np.float64), task.Y.astype(np.float64)

    def objective(weights, mask=None):
        loss = half_sse(relu_forward(weights, X), Y, mask)
        return loss, loss

    run = train(objective, params, lr=lr, epochs=epochs, snapshot=lambda w: {"pre": relu_preactivations(w, X)[0]},
                snapshot_every=1, **batching(batch_size, task, seeds))
    return {"loss": run.loss, "pre": run.snapshots["pre"]}

"""The fast balanced flow and the theory as a model of a run (float64, small sizes)."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from reln.experiment.config import config_from_dict
from reln.experiment.experiments import LINEAR_PHASE_LABEL, run_experiment
from reln.models.pathways import Pathway, build_gdln
from reln.models.gdln import gdln_objective, pathway_maps
from reln.tasks import contextual_task
from reln.theory import end_to_end_flow, flow_loss, integrate_flow, pathway_correlations
from reln.training.train import train


def _balanced_maps(rng, gdln, task, scale):
    """Balanced factors per pathway (W_2 = Q (W_1 W_1^T)^{1/2}) and their end-to-end maps."""
    width = int(gdln.widths.max())
    W1 = np.zeros((gdln.n_pathways, width, task.n_in))
    W2 = np.zeros((gdln.n_pathways, task.n_out, width))
    for p, w in enumerate(gdln.widths[:, 0]):
        first = scale * rng.standard_normal((w, task.n_in)) * gdln.input_masks[p]
        evals, evecs = np.linalg.eigh(first @ first.T)
        root = evecs @ np.diag(np.sqrt(np.clip(evals, 0, None))) @ evecs.T
        W1[p, :w], W2[p, :, :w] = first, np.linalg.qr(rng.standard_normal((task.n_out, w)))[0] @ root
    return W1, W2, np.einsum("pow,pwi->poi", W2, W1)


def _flow(task, gdln, W0, **options):
    return integrate_flow(task.X, task.Y, gdln.gates, gdln.input_masks, gdln.output_masks, W0, **options)


def test_fast_flow_agrees_with_the_adaptive_solver():
    """Coupled pathways (an always-on one racing a one-context one): RK4 in balanced factors with
    5-epoch steps and Hermite-interpolated losses against the adaptive solver at rtol 1e-10."""
    task = contextual_task(4, 2, ["hierarchy", "ring"])
    gdln = build_gdln([Pathway(hidden=(6,)), Pathway(contexts=(1,), inputs="items", hidden=(4,))], task)
    W0 = _balanced_maps(np.random.default_rng(0), gdln, task, 0.01)[2]
    epochs = 3001
    reference = end_to_end_flow(pathway_correlations(task, gdln), gdln.output_masks, W0, lr=1e-3,
                                epochs=np.arange(epochs + 1), rtol=1e-10)
    fast = _flow(task, gdln, W0, lr=1e-3, epochs=epochs)
    loss = flow_loss(task, gdln, reference)
    assert loss[-1] < 0.2 * loss[0]  # the run learns: the comparison is not vacuous
    assert np.max(np.abs(fast.loss - loss)) / loss[0] <= 1e-5
    assert np.linalg.norm(fast.final_maps - reference[-1]) / np.linalg.norm(reference[-1]) <= 1e-4
    measured = np.linalg.svd(reference[fast.snapshot_epochs], compute_uv=False)[..., : fast.singular_values.shape[-1]]
    assert np.max(np.abs(fast.singular_values - measured)) <= 1e-4


def test_flow_equals_a_simulated_gdln_for_decoupled_whitened_pathways():
    """Pathways on disjoint contexts reading only the items (Sigma_x(p, p) = I / P, Sigma_x(p, q) = 0)
    with balanced factors: the flow is exact up to gradient descent's O(lr) discretisation, and the
    ``gd`` method (Euler, one step per epoch) *is* gradient descent on balanced factors."""
    task = contextual_task(4, 2, ["hierarchy", "ring"])
    gdln = build_gdln([Pathway(contexts=(0,), inputs="items", hidden=(5,)),
                       Pathway(contexts=(1,), inputs="items", hidden=(5,))], task)
    W1, W2, W0 = _balanced_maps(np.random.default_rng(1), gdln, task, 0.1)
    cases = {"rk4": (1e-4, 15000, 1e-3), "gd": (1e-3, 2000, 1e-9)}  # measured: 1.5e-4, 1e-15
    for method, (lr, epochs, bound) in cases.items():
        with jax.enable_x64(True):
            simulated = train(
                lambda w: gdln_objective(w, gdln, task.X, task.Y), [W1[None], W2[None]], lr=lr, epochs=epochs,
                snapshot=lambda w: {"maps": pathway_maps(w, gdln)}, snapshot_every=epochs // 20,
            )
        predicted = _flow(task, gdln, W0, lr=lr, epochs=epochs, method=method,
                          stride=5 if method == "rk4" else 1, snapshot_every=epochs // 20)
        loss = simulated.loss[0]
        assert loss[-1] < 0.3 * loss[0], method  # the main modes were learned: not vacuous
        assert predicted.loss[0] == pytest.approx(loss[0], rel=1e-12)  # t = 0: the same maps
        assert np.max(np.abs(predicted.loss - loss)) / loss[0] <= bound, method
        maps = simulated.snapshots["maps"][0, -1]
        assert np.linalg.norm(predicted.final_maps - maps) / np.linalg.norm(maps) <= bound, method


def test_gd_method_is_gradient_descent_with_coupled_masked_and_switching_pathways():
    """The NumPy ``gd`` integrator with everything it handles at once: pathways that race for the
    same outputs (coupled), one writing only some outputs (an output mask), one reading only the
    items, and gates that change at an epoch; against gradient descent on the same balanced
    GDLN by the JAX trainer, in float64."""
    task = contextual_task(4, 2, ["hierarchy", "ring"])
    outputs = (np.arange(task.n_out) < task.n_out // 2).astype(float)
    pathways = [Pathway(hidden=(4,)), Pathway(contexts=(1,), inputs="items", outputs=outputs, hidden=(4,)),
                Pathway(contexts=(0,), inputs="items", hidden=(4,))]
    gdln = build_gdln(pathways, task)
    rng = np.random.default_rng(2)
    W1, W2, _ = _balanced_maps(rng, gdln, task, 0.05)
    # the masked pathway's balanced output weights: orthonormal columns within its outputs
    evals, evecs = np.linalg.eigh(W1[1] @ W1[1].T)
    basis = np.linalg.qr(rng.standard_normal((task.n_out, 4)) * outputs[:, None])[0]
    W2[1] = basis @ evecs @ np.diag(np.sqrt(np.clip(evals, 0, None))) @ evecs.T
    W0 = np.einsum("pow,pwi->poi", W2, W1)
    switch, epochs, lr = 300, 1200, 2e-3
    late = gdln.gates.copy()
    late[2] = 0  # the third pathway closes at the switch
    phase_gates = np.stack([gdln.gates, late])
    switching = dataclasses.replace(gdln, phase_starts=np.array([0, switch]), phase_gates=phase_gates, gates=late)
    with jax.enable_x64(True):
        simulated = train(
            lambda w, t: gdln_objective(w, switching, task.X, task.Y, t=t), [W1[None], W2[None]], lr=lr,
            epochs=epochs, snapshot=lambda w: {"maps": pathway_maps(w, gdln)}, snapshot_every=100, epoch_aware=True,
        )
    predicted = integrate_flow(task.X, task.Y, phase_gates, gdln.input_masks, gdln.output_masks, W0, lr=lr,
                               epochs=epochs, phase_starts=np.array([0, switch]), method="gd", stride=1,
                               snapshot_every=100)
    loss = simulated.loss[0]
    assert loss[-1] < 0.3 * loss[0]  # learned: not vacuous
    assert np.max(np.abs(predicted.loss - loss)) / loss[0] <= 1e-9
    maps = simulated.snapshots["maps"][0]
    np.testing.assert_allclose(predicted.final_maps, maps[-1], atol=1e-9 * np.abs(maps[-1]).max())
    measured = np.linalg.svd(maps, compute_uv=False)[..., : predicted.singular_values.shape[-1]]
    np.testing.assert_allclose(predicted.singular_values, measured, atol=1e-9 * measured.max())


def test_flow_converges_to_the_least_squares_optimum_of_the_gated_structure():
    """t = infinity: the loss ends at min over maps of 1/2 ||Y - sum_p g_p (W_p M_p X)||^2, a
    floor above zero for this structure, not a false floor of paired modes."""
    task = contextual_task(4, 3, "hierarchy")
    gdln = build_gdln([Pathway(hidden=(8,)), Pathway(contexts=(0, 1), inputs="items", hidden=(8,))], task)
    W0 = _balanced_maps(np.random.default_rng(2), gdln, task, 0.02)[2]
    Z = np.concatenate([task.X * m[:, None] * g[None] for m, g in zip(gdln.input_masks, gdln.gates)])
    optimum = 0.5 * np.sum((task.Y - task.Y @ np.linalg.pinv(Z) @ Z) ** 2)
    assert optimum > 0.05 * task.loss_initial
    result = _flow(task, gdln, W0, lr=1e-3, epochs=20000, stride=10, snapshot_every=1000)
    assert result.loss[-1] == pytest.approx(optimum, rel=1e-6)
    assert np.all(np.diff(result.loss) <= 1e-9 * task.loss_initial)  # gradient flow never climbs


def _tiny_config(models, **reln):
    return config_from_dict({
        "models": models,
        "task": {"items": 4, "contexts": 2, "structures": ["hierarchy", "ring"]},
        "relu": {"hidden": [40], "init_std": 1e-3, "snapshot_every": 10},
        "reln": reln,
        "train": {"epochs": 400, "seeds": [0, 1]},
    })


def test_run_metrics_have_a_theory_section():
    """``--models relu,theory``: a prediction per ReLU seed, measured against it; the arrays for
    the loss and singular-value figures travel in the run's trajectories."""
    run = run_experiment(_tiny_config(["relu", "theory"]))
    section = run.metrics["theory"]
    n_paths = len(section["pathways"])
    assert len(section["loss_final"]) == 2 and len(section["seconds"]) == 2
    assert set(section["epoch_below"]) >= {"0.5", "0.1"}
    assert len(section["gap_to_relu"]["max"]) == 2 and len(section["gap_to_relu"]["mean"]) == 2
    assert np.array(section["singular_values_final"]).shape[:2] == (2, n_paths)
    trajectory = run.trajectories["theory"]
    assert trajectory.loss.shape == (2, 401)
    assert trajectory.loss[0, 0] == pytest.approx(run.trajectories["relu"].loss[0, 0], rel=1e-3)
    assert trajectory.singular_values.shape[:3] == (2, len(trajectory.snapshot_epochs), n_paths)
    assert "reln" not in run.metrics  # the theory alone does not add the identified ReLN
    # the linear phase from the task and init law alone: a curve for the loss figure, its numbers
    linear = section["linear_phase"]
    curve = run.closed_forms[LINEAR_PHASE_LABEL]
    assert curve.shape == (401,) and curve[0] == pytest.approx(run.task.loss_initial, rel=1e-3)
    assert linear["plateau"] == pytest.approx(curve[-1]) and linear["initial_strength"] > 0
    assert set(linear["epoch_below"]) >= {"0.5", "0.1"}
    report = section["assumption_2_1"]  # Assumption 2.1 as numbers for the theory's pathways
    assert set(report["input_misalignment"]) == set(section["pathways"])


def test_theory_of_explicit_pathways_from_the_init_law():
    """No ReLU: one prediction from the pathways and their init law, ``gap_to_relu`` absent."""
    pathways = [{"contexts": "all", "hidden": 20, "init_std": 1e-3},
                {"contexts": [1], "inputs": "items", "hidden": 20, "init_std": 1e-3}]
    run = run_experiment(_tiny_config(["theory"], pathways=pathways))
    section = run.metrics["theory"]
    assert section["pathways"] == ["pathway 0", "pathway 1"] or len(section["pathways"]) == 2
    assert len(section["loss_final"]) == 1 and "gap_to_relu" not in section
    assert section["loss_final"][0] < run.trajectories["theory"].loss[0, 0]

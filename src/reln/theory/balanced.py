"""Fast integration of the balanced end-to-end flow through balanced factors (docs/theory.md §2).

:func:`reln.theory.end_to_end_flow` integrates

    tau dW_p/dt = (W_p W_p^T)^{1/2} G_p + G_p (W_p^T W_p)^{1/2}

with an adaptive solver and one SVD per pathway per evaluation. The same flow is the gradient flow
of *balanced factors*: write ``W_p = A_p B_p`` with ``A_p^T A_p = B_p B_p^T`` (``A = U S^{1/2}``,
``B = S^{1/2} V^T`` from ``W_p(0) = U S V^T``, width ``r = min(n_out, n_in)``); then

    tau dA_p/dt = G_p B_p^T,    tau dB_p/dt = A_p^T G_p

keeps the factors balanced, and ``d(A B)/dt = G B^T B + A A^T G`` with ``B^T B = (W^T W)^{1/2}``,
``A A^T = (W W^T)^{1/2}`` (both squares equal ``W^T W``, ``W W^T`` because the factors are
balanced): the end-to-end map follows the flow above exactly. This is a change of variables, not
an approximation; it needs no square root, no SVD after ``t = 0``, and ``G_p`` is computed from
the samples,

    G_p = (1/P) M_out^p [(Y - Yhat) * g_p] (M_in^p X)^T,   Yhat = sum_q g_q * (M_out^q W_q M_in^q X),

so pathways may have any gates, fractional ones included, and gates that change at given epochs.

Two integrators, both with a fixed step:

* ``method="gd"`` (NumPy): explicit Euler with one step per epoch, which *is* full-batch gradient
  descent with learning rate ``lr`` on the balanced factors, the algorithm the ReLU network is
  trained with (docs/theory.md §5.5). The pathways' factors are stacked as the units of one
  hidden layer, each unit gated by its pathway's gates, so a step is five small matrix products
  and the run needs no compilation (and no JAX).
* ``method="rk4"`` (JAX, :mod:`reln.theory.balanced_rk4`): the gradient flow itself, by classical
  Runge-Kutta steps of ``stride`` epochs compiled as one ``lax.scan`` in float64. Step-size error:
  the fastest rate in the problem is ``2 lambda_max / tau`` with ``lambda_max`` the largest
  eigenvalue of the loss's curvature (about ``sum_p ||W_p|| ||Sigma_x||``, below 0.1 per epoch on
  the presets); RK4's local error is ``(h rate)^5 / 120`` per step. Tests bound the result against
  the adaptive solver.

Gradient descent grows a mode by ``1 + rho`` per epoch where the flow grows it by ``exp(rho)``
(``rho = 2 s / tau``), so it is later, most visibly around the transitions.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from reln.theory.deep import balanced_factors
from reln.theory.stepping import check_method, step_schedule


@dataclasses.dataclass(frozen=True)
class FlowResult:
    """A predicted trajectory.

    Attributes:
        loss: ``(epochs + 1,)`` the loss ``1/2 ||Y - Yhat||^2`` at ``t = 0..epochs``.
        snapshot_epochs: ``(n_snapshots,)``.
        singular_values: ``(n_snapshots, p, r)`` singular values of each pathway's map, descending.
        final_maps: ``(p, n_out, n_in)`` the maps at the last epoch.
        seconds: wall seconds of the integration, compilation included.
        error: ``(epochs + 1, n_out, P)`` the error ``Y - Yhat`` at every epoch, when asked for
            (``keep_error``), else ``None``.
        split: ``(n_snapshots, 2)`` the loss at the snapshots split into the part a linear map can
            remove and the part only gating can (:func:`reln.identification.analysis.loss_split`),
            where the integrator keeps it (gradient descent here, and the switching flow of
            :mod:`reln.theory.switching`; not the RK4 scan of explicit pathways), else ``None``.
    """

    loss: np.ndarray
    snapshot_epochs: np.ndarray
    singular_values: np.ndarray
    final_maps: np.ndarray
    seconds: float
    error: np.ndarray | None = None
    split: np.ndarray | None = None

    def per_epoch(self, substeps: int, seconds: float) -> FlowResult:
        """The run of ``substeps`` steps an epoch seen once per epoch (docs/theory.md §2.2): the loss
        and error of every ``substeps``-th step, the snapshot epochs in epochs, ``seconds`` of wall time."""
        return dataclasses.replace(
            self, loss=self.loss[::substeps], snapshot_epochs=self.snapshot_epochs // substeps, seconds=seconds,
            error=None if self.error is None else self.error[::substeps])


def output_basis(Y: np.ndarray, W0: np.ndarray, output_masks: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """An orthonormal basis ``Q`` ``(n_out, k)`` of the outputs the flow can reach.

    ``W_p``'s columns start in the span of ``W0`` and move along ``G_p``, whose columns lie in
    ``M_out^p`` applied to the span of ``Y`` and of the ``W_q``: the smallest space holding ``Y``,
    ``W0`` and closed under every ``M_out^p`` holds the whole trajectory. Integrating in it
    (``k <= P + rank W0``, e.g. 24 instead of 60 outputs) changes nothing but the cost. ``W0``
    enters through its unit left singular vectors, so a tiny initialisation is not lost to ``tol``.
    """
    directions = [Y / max(np.linalg.norm(Y), 1e-300)]
    for W in W0:
        U, s, _ = np.linalg.svd(W, full_matrices=False)
        directions.append(U[:, s > tol * max(s.max(initial=0.0), 1e-300)])
    span = np.concatenate(directions, axis=1)
    distinct = np.unique(output_masks, axis=0)
    rank = -1
    while True:
        evals, evecs = np.linalg.eigh(span @ span.T)
        Q = evecs[:, evals > tol * max(evals.max(initial=0.0), 1e-300)]
        if Q.shape[1] == rank or np.all(distinct == 1):
            return Q
        rank = Q.shape[1]
        span = np.concatenate([Q] + [m[:, None] * Q for m in distinct], axis=1)


def _descend(A0, B0, X, Y, input_masks, output_masks, gates, phase_starts, *, lr, epochs, snapshot_every,
             keep_error=False):
    """Full-batch gradient descent on balanced factors, one step per epoch, in NumPy.

    The ``p`` pathways' factors are the ``p r`` units of one hidden layer: unit ``(p, k)`` has
    input row ``B_p[k]`` (zero off the pathway's input mask) and output column ``A_p[:, k]``, and
    is gated by ``g_p``. With ``H = (B X) * g`` and ``E = Y - A H`` (outputs in the reduced basis),

        A <- A + lr M_out (E H^T),     B <- B + lr ((A^T E) * g) X^T * M_in,

    which is gradient descent on ``1/2 ||E||^2`` (its gradient is ``P`` times that of the mean
    loss, hence ``tau = 1 / (P lr)``). ``A_p`` stays in the range of its output projector, so
    only ``A``'s update is masked.

    Returns:
        ``A (p, k, r), B (p, r, n_in)`` at the last epoch, the loss ``(epochs + 1,)``, the
        snapshot epochs, the singular values ``(snapshots, p, r)`` of the maps there, (with
        ``keep_error``) the error ``E`` ``(epochs + 1, k, P)`` at every epoch, else ``None``, and
        the loss at the snapshots split into its linear and gated parts ``(snapshots, 2)``
        (``1/2 ||E P_X||^2`` and ``1/2 ||E (I - P_X)||^2``, ``P_X = X^+ X``; the reduced output
        basis leaves both unchanged).
    """
    p, k, r = A0.shape
    A = np.ascontiguousarray(A0.transpose(1, 0, 2).reshape(k, p * r))
    B = np.ascontiguousarray(B0.reshape(p * r, -1))
    mask_in = np.repeat(input_masks, r, axis=0)
    masked = not np.allclose(output_masks, np.eye(k))
    XT = np.ascontiguousarray(X.T)
    every = max(1, min(int(snapshot_every), max(epochs, 1)))
    snapshot_epochs = np.append(np.arange(max(1, -(-epochs // every))) * every, epochs)
    loss, snapshots, split = np.empty(epochs + 1), [], []
    errors = np.empty((epochs + 1, *Y.shape)) if keep_error else None
    row_space = np.linalg.pinv(X) @ X

    def keep_split(E):  # the loss at a snapshot, split (reln.identification.analysis.loss_split)
        inside = E @ row_space
        split.append((0.5 * np.vdot(inside, inside), 0.5 * np.vdot(E - inside, E - inside)))

    ends = [*phase_starts[1:], epochs + 1]
    for phase, (first, end) in enumerate(zip(phase_starts, ends)):
        g = np.repeat(gates[phase], r, axis=0)
        for t in range(first, min(end, epochs + 1)):
            H = (B @ X) * g
            E = Y - A @ H
            loss[t] = 0.5 * np.vdot(E, E)
            if t % every == 0 and t < max(epochs, 1):
                snapshots.append((A.copy(), B.copy()))
                keep_split(E)
            if keep_error:
                errors[t] = E
            if t == epochs:
                keep_split(E)  # the last snapshot, appended below
                break
            E *= lr
            dB = ((A.T @ E) * g) @ XT
            dA = E @ H.T
            if masked:
                dA = np.einsum("pkl,lpr->kpr", output_masks, dA.reshape(k, p, r)).reshape(k, p * r)
            A += dA
            dB *= mask_in
            B += dB
    snapshots.append((A, B))
    As = np.stack([a for a, _ in snapshots]).reshape(-1, k, p, r)
    Bs = np.stack([b for _, b in snapshots]).reshape(-1, p, r, B.shape[1])
    sv = np.linalg.svd(np.einsum("skpr,spri->spki", As, Bs), compute_uv=False)  # one batched call
    return (A.reshape(k, p, r).transpose(1, 0, 2), B.reshape(p, r, -1), loss, snapshot_epochs, sv, errors,
            np.array(split))


def integrate_flow(
    X: np.ndarray,
    Y: np.ndarray,
    gates: np.ndarray,
    input_masks: np.ndarray,
    output_masks: np.ndarray,
    W0: np.ndarray,
    *,
    lr: float,
    epochs: int,
    phase_starts: np.ndarray | None = None,
    method: str = "rk4",
    stride: int = 5,
    snapshot_every: int = 10,
    keep_error: bool = False,
    substeps: int = 1,
) -> FlowResult:
    """Integrate the balanced flow of every pathway from ``W0`` for ``epochs`` epochs.

    Args:
        X: ``(n_in, P)``, ``Y``: ``(n_out, P)`` the task.
        gates: ``(p, P)`` values in ``[0, 1]``, or ``(n_phases, p, P)`` with ``phase_starts``:
            from epoch ``phase_starts[k]`` on, the gates are ``gates[k]``.
        input_masks: ``(p, n_in)``, ``output_masks``: ``(p, n_out)``, 0/1.
        W0: ``(p, n_out, n_in)`` the maps at ``t = 0`` (e.g. :func:`reln.theory.effective_initial_maps`).
        lr: learning rate of the gradient descent being described: ``tau = 1 / (P lr)`` epochs.
        epochs: length of the prediction.
        method: ``"rk4"``: the gradient flow, by classical Runge-Kutta steps of ``stride`` epochs;
            the loss at the epochs inside a step is the cubic Hermite interpolant of the loss
            and its slope ``tau dL/dt = -P (||dA||^2 + ||dB||^2)`` at the step's ends. ``"gd"``: explicit Euler with one
            step per epoch, which *is* full-batch gradient descent on balanced factors with
            learning rate ``lr``. Gradient descent grows a mode by ``1 + rho`` per epoch where
            the flow grows it by ``exp(rho)`` (``rho = 2 s / tau``), so it is slightly later.
        stride: epochs per RK4 step; gate phases must start on multiples of it. The default, 5,
            keeps the loss within 3e-5 of L(0) of the adaptive solver on the presets.
        snapshot_every: epochs between singular-value snapshots (rounded up to a multiple of
            ``stride``; the last epoch is always one).
        keep_error: also return the error ``Y - Yhat`` at every epoch (``method="gd"`` only; it
            costs ``(epochs + 1) n_out P`` floats).
        substeps: with ``method="gd"``, gradient steps of ``lr / substeps`` per epoch, the
            deterministic part of an epoch of ``substeps`` mini-batches (docs/theory.md §2.2;
            :func:`reln.theory.switching.integrate_switching`); loss and error kept once per epoch.

    Returns:
        A :class:`FlowResult`.
    """
    start = time.perf_counter()
    epochs, stride, substeps = int(epochs), int(stride), int(substeps)
    check_method(method, stride, substeps)
    if keep_error and method != "gd":
        raise ValueError("keep_error needs method='gd' (the RK4 scan keeps only the loss between steps)")
    if substeps > 1:  # gradient descent at lr / n for n times the epochs, kept once per epoch
        starts = None if phase_starts is None else np.asarray(phase_starts, int) * substeps
        result = integrate_flow(X, Y, gates, input_masks, output_masks, W0, lr=lr / substeps,
                                epochs=epochs * substeps, phase_starts=starts, method=method, stride=1,
                                snapshot_every=snapshot_every * substeps, keep_error=keep_error)
        return result.per_epoch(substeps, time.perf_counter() - start)
    gates = np.asarray(gates, np.float64)
    if gates.ndim == 2:
        gates, phase_starts = gates[None], np.array([0])
    phase_starts = np.asarray(phase_starts, int)
    if phase_starts[0] != 0 or np.any(np.diff(phase_starts) <= 0) or len(phase_starts) != len(gates):
        raise ValueError("phase_starts must start at 0, increase, and have one entry per gate phase")
    if np.any(phase_starts % stride):
        raise ValueError(f"gate phases start at {phase_starts.tolist()}: not all multiples of stride {stride}")
    P = X.shape[1]
    tau = 1.0 / (P * lr)
    W0 = np.asarray(W0, np.float64) * output_masks[:, :, None] * input_masks[:, None, :]
    Q = output_basis(Y, W0, output_masks)
    B0, A0 = balanced_factors(np.einsum("ok,poi->pki", Q, W0), depth=2)
    Y, output_masks = Q.T @ Y, np.einsum("ok,po,ol->pkl", Q, output_masks, Q)

    if method == "gd":
        A, B, loss, snapshot_epochs, sv, errors, split = _descend(
            A0, B0, X, Y, input_masks, output_masks, gates, phase_starts, lr=lr, epochs=epochs,
            snapshot_every=snapshot_every, keep_error=keep_error)
        # Q holds the span of Y and of every reachable output, so the error has no part outside it
        return FlowResult(loss=loss, snapshot_epochs=snapshot_epochs, singular_values=sv,
                          final_maps=np.einsum("ko,por,pri->pki", Q, A, B), seconds=time.perf_counter() - start,
                          error=None if errors is None else np.einsum("ok,tkP->toP", Q, errors), split=split)
    from reln.theory.balanced_rk4 import integrate_rk4

    import jax
    import jax.numpy as jnp

    main, every, step_phase, tail_phases = step_schedule(phase_starts, epochs, stride, snapshot_every)
    masked = not np.allclose(output_masks, np.eye(len(Y)))
    with jax.enable_x64(True):
        data = [jnp.asarray(a, jnp.float64) for a in (
            A0, B0, X[None] * input_masks[:, :, None], Y, output_masks, gates,
        )]
        (A, B), losses, sv, final_sv = jax.device_get(integrate_rk4(
            *data, jnp.asarray(step_phase), jnp.float64(tau), method=method, stride=stride,
            tail_phases=tail_phases, masked=masked,
        ))
    return FlowResult(
        loss=np.concatenate([np.asarray(losses[0])[:main], np.asarray(losses[1])]),
        snapshot_epochs=np.append(np.arange(len(step_phase)) * every, epochs),
        singular_values=np.concatenate([np.asarray(sv), np.asarray(final_sv)[None]]),
        final_maps=np.einsum("ko,por,pri->pki", Q, A, B),
        seconds=time.perf_counter() - start,
    )

"""Mode-by-mode dynamics in closed form, where Assumption 2.1 holds (docs/theory.md §2; Saxe et al. 2014).

A GDLN *decouples into modes* when

1. each pathway's input singular vectors are eigenvectors of its input correlation:
   ``Sigma_yx(p) = U_p S_p V_p^T`` and ``Sigma_x(p, p) V_p = V_p D_p`` with ``D_p`` diagonal
   (``d_k = v_k^T Sigma_x(p, p) v_k``, the input variance along the mode on the pathway's samples);
2. pathways that write to a common output see uncorrelated inputs: ``Sigma_x(q, p) = 0`` (disjoint
   samples, or disjoint input masks), so no pathway feels another's progress (no race);
3. the weights are balanced and aligned with the modes (silent alignment; from small random
   weights this holds after a short early phase, with the effective strengths of
   :func:`reln.theory.effective_initial_maps`).

Then a pathway of ``N`` layers has map ``W_p = sum_k pi_k u_k v_k^T`` and each strength obeys

    tau dpi/dt = N pi^{2 - 2/N} (s - d pi),        tau = 1 / (P lr),

which for ``N = 2`` is the logistic equation, solved in closed form by

    pi(t) = (s/d) / [1 - (1 - s/(d pi_0)) exp(-2 s t / tau)],

a sigmoid from ``pi_0`` to ``s/d`` with its half-rise at ``t = (tau / 2s) ln(s/(d pi_0) - 1)``.
For ``N >= 3`` the scalar equation is integrated in ``ln pi`` (the rise is a sharper step and comes
later from the same start). The loss follows from the strengths alone,

    L(t) = L(0 maps) - (P/2) sum_{p,k} pi_k (2 s_k - d_k pi_k),

and at ``t = infinity`` (``pi = s/d``) it is the least-squares optimum of the gated structure.

Where conditions 1-2 fail (a common pathway racing context pathways on shared samples, or
one-hot context inputs whose correlation no singular basis diagonalises), the modes couple and the
closed form is only an approximation: :func:`pathway_modes` measures both conditions and refuses
unless asked for the approximation; :func:`reln.theory.integrate_flow` is exact in both cases.
The reference implementation paired the singular values of ``Sigma_yx`` with the eigenvalues of
``Sigma_x`` by rank instead (docs/theory.md §6), which leaves a false floor; here ``d_k`` is the
input variance along each mode's own direction, so nothing is paired.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from reln.errors import RelnError
from reln.models.pathways import GDLN, Pathway, build_gdln
from reln.tasks import Task
from reln.theory.correlations import pathway_correlations
from reln.theory.effective import expected_mode_strength

# Conditions 1-2 hold to the rounding of the correlations (relative to their norm) or not at all on
# the tasks here; this is the line between the two, not a fitted number.
DECOUPLING_TOLERANCE = 1e-8


@dataclasses.dataclass(frozen=True)
class Modes:
    """The modes of every pathway, padded to ``r`` per pathway (``count[p]`` are real).

    Attributes:
        s, d: ``(p, r)`` singular values of ``Sigma_yx(p)`` and input variances along them.
        U: ``(p, n_out, r)``, V: ``(p, n_in, r)`` the output and input singular vectors.
        count: ``(p,)`` modes per pathway (singular values above the rank tolerance).
        misalignment: ``(p,)`` ``||Sigma_x V - V D|| / ||Sigma_x V||`` (condition 1; 0 when it holds).
        coupling: ``||Sigma_x(q, p)||`` over pathways sharing an output, relative to the largest
            ``||Sigma_x(p, p)||`` (condition 2; 0 when it holds).
        loss_zero: the loss of the zero map, ``||Y||^2 / 2``.
        P: the number of samples.
    """

    s: np.ndarray
    d: np.ndarray
    U: np.ndarray
    V: np.ndarray
    count: np.ndarray
    misalignment: np.ndarray
    coupling: float
    loss_zero: float
    P: int

    @property
    def decoupled(self) -> bool:
        """Whether conditions 1-2 of the module docstring hold."""
        return bool(self.misalignment.max(initial=0.0) <= DECOUPLING_TOLERANCE and self.coupling <= DECOUPLING_TOLERANCE)

    def loss(self, strengths: np.ndarray) -> np.ndarray:
        """``L = L(0 maps) - (P/2) sum pi (2 s - d pi)`` for strengths ``(..., p, r)``."""
        return self.loss_zero - 0.5 * self.P * np.sum(strengths * (2 * self.s - self.d * strengths), axis=(-2, -1))

    @property
    def loss_optimum(self) -> float:
        """The loss at ``pi = s/d``: the least-squares optimum of the gated structure (decoupled)."""
        return float(self.loss(self.optimal_strengths))

    @property
    def optimal_strengths(self) -> np.ndarray:
        return np.divide(self.s, self.d, out=np.zeros_like(self.s), where=self.d > 0)

    def initial_strengths(self, maps: np.ndarray) -> np.ndarray:
        """``pi_k(0) = u_k^T W_p v_k`` of end-to-end maps ``(p, n_out, n_in)``, e.g. the effective
        maps of a random initialisation (:func:`reln.theory.effective_initial_maps`)."""
        return np.einsum("pok,poi,pik->pk", self.U, maps, self.V)


def pathway_modes(task: Task, gdln: GDLN, *, tol: float = 1e-10, require_decoupled: bool = True) -> Modes:
    """The modes of every pathway of a GDLN and how far conditions 1-2 hold, in numbers.

    Args:
        tol: singular values below ``tol`` times the largest of a pathway are not modes.
        require_decoupled: raise :class:`RelnError` (with the measured numbers) when the modes
            couple; with ``False`` the closed form is returned as the approximation it then is.
    """
    correlations = pathway_correlations(task, gdln)
    n_paths = len(correlations.yx)
    r = min(task.n_out, task.n_in)
    s = np.zeros((n_paths, r))
    d = np.zeros((n_paths, r))
    U = np.zeros((n_paths, task.n_out, r))
    V = np.zeros((n_paths, task.n_in, r))
    count = np.zeros(n_paths, int)
    misalignment = np.zeros(n_paths)
    for p, yx in enumerate(correlations.yx):
        u, sv, vt = np.linalg.svd(yx, full_matrices=False)
        keep = sv > tol * max(sv.max(initial=0.0), 1e-300)
        k = int(keep.sum())
        u, sv, v = _diagonalise_degenerate(u[:, keep], sv[keep], vt[keep].T, correlations.xx[p, p])
        xx_v = correlations.xx[p, p] @ v  # (n_in, k)
        variances = np.einsum("ik,ik->k", v, xx_v)
        residual = np.linalg.norm(xx_v - v * variances)
        misalignment[p] = residual / np.linalg.norm(xx_v) if k else 0.0
        s[p, :k], d[p, :k], U[p, :, :k], V[p, :, :k], count[p] = sv, variances, u, v, k
    scale = max(np.linalg.norm(correlations.xx[p, p]) for p in range(n_paths)) if n_paths else 1.0
    shares_output = (gdln.output_masks @ gdln.output_masks.T) > 0
    coupling = max(
        (np.linalg.norm(correlations.xx[q, p]) / scale for p in range(n_paths) for q in range(n_paths)
         if p != q and shares_output[p, q]),
        default=0.0,
    )
    modes = Modes(s=s, d=d, U=U, V=V, count=count, misalignment=misalignment, coupling=float(coupling),
                  loss_zero=0.5 * float(np.sum(task.Y**2)), P=task.P)
    if require_decoupled and not modes.decoupled:
        raise RelnError(
            f"the pathways' modes are coupled (input misalignment up to {misalignment.max():.2g}, coupling "
            f"between pathways {coupling:.2g}; both must be under {DECOUPLING_TOLERANCE:g}), so the closed "
            "form is an approximation here: use reln.theory.integrate_flow (exact), or pass "
            "require_decoupled=False for the approximation"
        )
    return modes


def _diagonalise_degenerate(U: np.ndarray, s: np.ndarray, V: np.ndarray, xx: np.ndarray, rtol: float = 1e-9):
    """Within each group of equal singular values the SVD's basis is arbitrary; rotate it (``U``
    and ``V`` alike, which keeps ``U S V^T``) to the eigenvectors of ``Sigma_x`` restricted to the
    group, so that a task whose correlations do share a basis is not reported as misaligned."""
    U, V = U.copy(), V.copy()
    start = 0
    while start < len(s):
        end = start + 1
        while end < len(s) and abs(s[end] - s[start]) <= rtol * s[start]:
            end += 1
        if end - start > 1:
            _, rotation = np.linalg.eigh(V[:, start:end].T @ xx @ V[:, start:end])
            U[:, start:end], V[:, start:end] = U[:, start:end] @ rotation, V[:, start:end] @ rotation
        start = end
    return U, s, V


def mode_strengths(
    epochs: np.ndarray, s: np.ndarray, d: np.ndarray, pi0: np.ndarray, *, tau: float, depth: int = 2, rtol: float = 1e-10
) -> np.ndarray:
    """``pi(t)`` of decoupled modes (module docstring), ``(len(epochs), *s.shape)``.

    Args:
        epochs: times in epochs (non-negative, increasing for ``depth >= 3``).
        s, d, pi0: arrays of one shape; ``pi0 = 0`` is a fixed point and stays; ``d = 0`` is no
            mode (no input variance along it) and stays; ``s = 0`` with ``pi0 > 0`` decays.
        tau: ``1 / (P lr)``.
        depth: layers of the pathway, ``N >= 2``; ``2`` is the closed form, deeper ones the scalar
            equation integrated in ``ln pi`` to ``rtol``.
    """
    epochs = np.asarray(epochs, float)
    s, d, pi0 = np.broadcast_arrays(*(np.asarray(a, float) for a in (s, d, pi0)))
    if depth < 2:
        raise RelnError(f"a pathway has at least 2 layers, got depth={depth}")
    if np.any(epochs < 0):
        raise RelnError("mode strengths are defined for t >= 0")
    moving = (s >= 0) & (pi0 > 0) & (d > 0)
    out = np.broadcast_to(pi0, (len(epochs), *pi0.shape)).copy()
    if not moving.any() or not epochs.size or epochs.max() == 0:
        return out
    sm, dm, pm = s[moving], d[moving], pi0[moving]
    if depth == 2:
        # written so that s -> 0 is its limit, pi0 / (1 + 2 d pi0 t / tau), with no 0/0
        rate = 2.0 * np.outer(epochs, sm) / tau
        growth = np.where(rate > 0, -np.expm1(-rate) / np.where(sm > 0, sm, 1.0), 2.0 * epochs[:, None] / tau)
        out[:, moving] = pm / (np.exp(-rate) + dm * pm * growth)
        return out
    if np.any(np.diff(epochs) <= 0):
        raise RelnError("epochs must increase for depth >= 3")

    def log_rate(t, log_pi):
        pi = np.exp(log_pi)
        return depth * pi ** (1.0 - 2.0 / depth) * (sm - dm * pi) / tau

    from scipy.integrate import solve_ivp  # here: scipy.integrate takes ~1 s to import

    solution = solve_ivp(log_rate, (0.0, float(epochs[-1])), np.log(pm), t_eval=epochs, method="LSODA",
                         rtol=rtol, atol=rtol)
    if not solution.success:
        raise RelnError(f"the mode equation did not integrate: {solution.message}")
    out[:, moving] = np.exp(solution.y.T)
    return out


@dataclasses.dataclass(frozen=True)
class ClosedForm:
    """A loss curve in closed form: call it with epochs, ``loss(epochs) -> (len(epochs),)``.

    Attributes:
        modes: the pathways' modes, with how far the closed form's conditions hold.
        initial_strengths: ``(p, r)`` ``pi_k(0)``; tau: ``1 / (P lr)``; depth: layers per pathway.
    """

    modes: Modes
    initial_strengths: np.ndarray
    tau: float
    depth: int = 2

    def strengths(self, epochs: np.ndarray) -> np.ndarray:
        """``(len(epochs), p, r)`` the mode strengths."""
        return mode_strengths(epochs, self.modes.s, self.modes.d, self.initial_strengths, tau=self.tau, depth=self.depth)

    def __call__(self, epochs: np.ndarray) -> np.ndarray:
        return self.modes.loss(self.strengths(epochs))


def closed_form_loss(
    task: Task, gdln: GDLN, initial_maps: np.ndarray, *, lr: float, depth: int = 2, require_decoupled: bool = True
) -> ClosedForm:
    """The loss of a GDLN as a function of time, mode by mode (module docstring).

    Args:
        initial_maps: ``(p, n_out, n_in)`` balanced maps at ``t = 0``, or the effective maps of a
            small random initialisation (:func:`reln.theory.effective_initial_maps`); only their
            strengths along the modes enter.
        lr: the learning rate (``tau = 1 / (P lr)``); depth: layers per pathway.
        require_decoupled: as in :func:`pathway_modes`.

    Returns:
        a :class:`ClosedForm`, ``loss(epochs) -> (len(epochs),)``, to be evaluated at any times.
    """
    modes = pathway_modes(task, gdln, require_decoupled=require_decoupled)
    pi0 = modes.initial_strengths(np.asarray(initial_maps, float))
    return ClosedForm(modes=modes, initial_strengths=pi0, tau=1.0 / (task.P * lr), depth=depth)


def linear_phase_loss(
    task: Task, width: int, init_std: float | tuple[float, float], *, lr: float, relu: bool = True,
    require_decoupled: bool = True,
) -> ClosedForm:
    """The first loss drop of a one-hidden-layer network from the task and its init law alone.

    From small initialisation every unit that grows is on for every sample (its input weights
    align with the Perron mode of ``Sigma_yx``, positive on every sample; :mod:`reln.theory.switching`),
    so until the context-specific phase the network is one always-on pathway of ``width`` units:
    a linear network, whose modes rise as sigmoids from the expected strength
    ``pi_0 = H (sigma_1^2 + sigma_2^2) / 8`` (bias-free ReLU units, half of which grow;
    ``/ 4`` for linear units: :func:`reln.theory.expected_mode_strength`) to the linear floor.
    No ReLU run and nothing fitted: the sample correlations, ``H``, the stds and ``lr``.

    The leading order leaves out the gating transient of the units' first epochs
    (:func:`reln.theory.relu_effective_unit_weights`); the report of ``reln reproduce`` sets its
    crossings beside the ReLU's and the reference implementation's (docs/theory.md §7). Where the
    always-on pathway's inputs are not aligned with its modes (one-hot contexts beside items, as on
    ``contexts-diff``), pass ``require_decoupled=False``: the closed form is then the approximation
    it is, and ``metrics.json`` reports the misalignment (``theory.linear_phase``).
    """
    stds = (float(init_std), float(init_std)) if np.isscalar(init_std) else tuple(float(v) for v in init_std)
    gdln = build_gdln([Pathway(hidden=(int(width),))], task)
    modes = pathway_modes(task, gdln, require_decoupled=require_decoupled)
    pi0 = np.where(modes.s > 0, expected_mode_strength(int(width), stds, relu=relu), 0.0)
    return ClosedForm(modes=modes, initial_strengths=pi0, tau=1.0 / (task.P * lr))

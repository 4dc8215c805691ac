"""Test oracles: plain constructions the library's fast paths must equal, kept out of the package.

:func:`switching_reln` builds the replay as an ordinary GDLN, one width-1 pathway per ReLU unit
whose gates switch at given epochs; the unit-gated network of :mod:`reln.relns.unit_gated` must
train exactly the same weights (``tests/test_unit_gated.py``), and ``benchmarks/bench_switching.py``
times it as the plain baseline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from reln.models.pathways import GDLN, Pathway, build_gdln
from reln.tasks import Task


def switching_reln(
    task: Task,
    phase_starts: np.ndarray,
    phase_gates: np.ndarray,
    relu_initial_weights: Sequence[np.ndarray],
) -> tuple[GDLN, list[np.ndarray]]:
    """A GDLN with one width-1 pathway per ReLU unit whose gates follow ``phase_gates``.

    At any time, units with equal gates form one pathway of a ReLN (common, all-but-one, ...):
    this is the ReLN "whose gates may change at epochs the identification finds". The weights
    start as the ReLU's own, reading every input, trained on the total loss.

    Returns:
        ``(gdln, [W0 (1, units, 1, n_in), W1 (1, units, n_out, 1)])``: the weights of one seed.
    """
    w_in, w_out = relu_initial_weights
    units = w_in.shape[0]
    pathways = [Pathway(gate=phase_gates[-1][j], hidden=(1,), init_std=0.0, name=f"unit {j}") for j in range(units)]
    gdln = dataclasses.replace(
        build_gdln(pathways, task),
        phase_starts=np.asarray(phase_starts),
        phase_gates=np.asarray(phase_gates),
    )
    return gdln, [w_in[None, :, None, :], w_out.T[None, :, :, None]]

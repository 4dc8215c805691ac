"""What a training run records: its losses, checkpoints and final weights, as plain arrays.

The records of every model (the ReLU network, the GDLNs, the ReLNs, the theory and the prediction)
share this shape, seeds along the first axis, so metrics and figures read them all alike
(docs/theory.md §5.1). Nothing here needs JAX: a prediction is a trajectory no network was trained for.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import numpy as np

Progress = Callable[[int, int], None]  # (epochs done, epochs in all)


@dataclasses.dataclass(frozen=True)
class HiddenLayer:
    """One hidden layer's checkpoints in a training run, seeds first.

    Attributes:
        pre: ``(seeds, snapshots, units, P)`` a ReLU network's pre-activations ``W_l h_{l-1}``;
            its gates are ``pre > 0`` (:attr:`gates`), its activity ``max(pre, 0)`` (:attr:`hidden`).
        unit_weight: ``(seeds, snapshots, units)`` unit sizes ``||w_in|| ||w_out||``.
        imbalance: ``(seeds, snapshots)`` how far the layer's two sides are from balanced
            (:func:`reln.identification.analysis.layer_imbalance`), for networks of several layers.
        activity: ``(seeds, snapshots, units, P)`` the activity of a network gated otherwise than by
            its signs (a unit-gated network, :mod:`reln.relns.unit_gated`), when there is no ``pre``.
    """

    pre: np.ndarray | None = None
    unit_weight: np.ndarray | None = None
    imbalance: np.ndarray | None = None
    activity: np.ndarray | None = None

    @functools.cached_property
    def hidden(self) -> np.ndarray:
        """``(seeds, snapshots, units, P)`` activity: ``activity``, or ``max(pre, 0)`` computed once."""
        return self.activity if self.activity is not None else np.maximum(self.pre, 0)

    @property
    def gates(self) -> np.ndarray:
        """``(seeds, snapshots, units, P)`` bool: the ReLU's gates ``pre > 0``."""
        return self.pre > 0


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """What a training run records, seeds along the first axis of every array.

    Attributes:
        loss: ``(n_seeds, epochs + 1)`` total loss at ``t = 0..epochs``.
        snapshot_epochs: ``(n_snapshots,)`` the epochs ``t`` at which snapshots were taken:
            ``0, every, 2 every, ...`` up to the last epoch, and the last epoch.
        final_params: the parameters after the last update, seeds on the first axis.
        seconds: wall seconds of each seed's own run, without compilation (runs on separate
            cores overlap; a vmapped group's time is shared equally among its seeds).
        compile_seconds: wall seconds spent compiling, once for all seeds.
        wall_seconds: wall seconds of the whole call.
        layers: a network's hidden layers at the snapshots (:class:`HiddenLayer`), input side first.
        output: ``(n_seeds, n_snapshots, n_out, P)`` the network's output.
        singular_values: ``(n_seeds, n_snapshots, pathways, r)`` of each pathway's end-to-end map.
        pathway_maps: ``(n_seeds, n_snapshots, pathways, n_out, n_in)`` end-to-end maps of the
            pathways a gated network's units form.
        snapshots: name -> ``(n_seeds, n_snapshots, ...)``: what a custom ``snapshot`` function
            of :func:`train` returned (the models' fits type theirs into the fields above).
    """

    loss: np.ndarray
    snapshot_epochs: np.ndarray
    final_params: list[np.ndarray]
    seconds: np.ndarray
    compile_seconds: float = 0.0
    wall_seconds: float = 0.0
    layers: tuple[HiddenLayer, ...] = ()
    output: np.ndarray | None = None
    singular_values: np.ndarray | None = None
    pathway_maps: np.ndarray | None = None
    snapshots: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

"""Shared test settings.

Hypothesis examples here call JAX, whose first call at a new shape compiles; a per-example deadline
would flag that compilation as slowness, so it is switched off, and example counts stay small.
Figures a test draws without saving are closed after it (those of wider-scoped fixtures stay open for
the tests that share them).
"""

import os

# Under pytest-xdist each worker process runs XLA on one thread, as a sweep's Dask workers do: the
# worker processes are the parallelism, and two processes of two threads each on two cores contend.
if os.environ.get("PYTEST_XDIST_WORKER"):
    from reln.experiment.distributed import ONE_THREAD_XLA

    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {ONE_THREAD_XLA}".strip()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import jax  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from reln.models.init import relu_initial_weights
from reln.training.fit import fit_relu

settings.register_profile("reln", deadline=None, max_examples=25, print_blob=True)
settings.load_profile("reln")


@pytest.fixture(autouse=True)
def _close_figures():
    """Close the matplotlib figures a test opened and left open (only if pyplot is imported)."""
    import sys

    def open_figures():
        pyplot = sys.modules.get("matplotlib.pyplot")
        return set(pyplot.get_fignums()) if pyplot else set()

    before = open_figures()
    yield
    for number in open_figures() - before:
        sys.modules["matplotlib.pyplot"].close(number)


@pytest.fixture(scope="session")
def train_small_relu():
    """``(task, hidden, std, seeds, epochs, snapshot_every) -> (relu, initial weights)``: a small
    ReLU run in float64 at learning rate 0.02, the input of the switching-ReLN tests."""

    def train(task, hidden, std, seeds, *, epochs, snapshot_every):
        with jax.enable_x64(True):
            relu = fit_relu(task, hidden, std, seeds=seeds, lr=0.02, epochs=epochs, snapshot_every=snapshot_every, x64=True)
        return relu, relu_initial_weights(task, hidden, std, seeds)

    return train

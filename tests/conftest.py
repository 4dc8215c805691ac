"""Shared test settings.

Hypothesis examples here call JAX, whose first call at a new shape compiles; a per-example deadline
would flag that compilation as slowness, so it is switched off. Example counts stay small so the
whole suite runs in well under a minute on two cores.
"""

from hypothesis import settings

settings.register_profile("reln", deadline=None, max_examples=25, print_blob=True)
settings.load_profile("reln")

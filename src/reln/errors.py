"""The one exception type a user of reln should ever see for bad input.

Every check in the package raises :class:`RelnError` with a message that names the offending value
and the fix, so the command line can print it in one line and exit non-zero (DESIGN.md, "Errors").
"""


class RelnError(ValueError):
    """Bad input or a failed run, described in one line that names the value and the fix."""


class ModelFailed(RelnError):
    """A model's training failed (diverged, died, or ended above its start): the message names the
    model and seeds, and ``model`` holds its name, so a sweep can keep the other models' numbers.

    >>> ModelFailed("reln", "model 'reln': training diverged").model
    'reln'
    """

    def __init__(self, model: str, message: str):
        super().__init__(message)
        self.model = model

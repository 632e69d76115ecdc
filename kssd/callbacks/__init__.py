"""Training callbacks and learning-rate schedules.

Example:
    >>> from kssd.callbacks import WarmUpMultiStep
    >>> float(WarmUpMultiStep(0.1, [10])(11))
    0.010000000707805157
"""

from kssd.callbacks.warmup_multistep import WarmUpMultiStep

__all__ = ["WarmUpMultiStep"]

"""Training callbacks and learning-rate schedules.

* :class:`WarmUpMultiStep`: linear warm-up then step decays (a serializable LR schedule);
* :class:`DetectionEvaluator`: VOC / WIDER FACE / COCO metrics on validation data every N
  epochs, logged into ``logs`` (history, TensorBoard, CSVLogger);
* :class:`ResumableCheckpoint`: atomic checkpoints (weights, optimizer state, epoch) that
  resume exactly after a crash or kill;
* :class:`NaNGuard`: stops at the first non-finite loss and names the epoch and batch;
* :class:`TimeLimit`: stops training once a wall-clock budget is spent;
* :class:`CompactProgbar`: Keras' progress bar without per-class metrics on its line.

Examples:
    >>> from kssd.callbacks import WarmUpMultiStep
    >>> float(WarmUpMultiStep(0.1, [10])(11))
    0.010000000707805157
"""

from kssd.callbacks.compact_progbar import CompactProgbar
from kssd.callbacks.detection_evaluator import DetectionEvaluator
from kssd.callbacks.nan_guard import NaNGuard
from kssd.callbacks.resumable_checkpoint import ResumableCheckpoint
from kssd.callbacks.time_limit import TimeLimit
from kssd.callbacks.warmup_multistep import WarmUpMultiStep

__all__ = [
    "CompactProgbar",
    "DetectionEvaluator",
    "NaNGuard",
    "ResumableCheckpoint",
    "TimeLimit",
    "WarmUpMultiStep",
]

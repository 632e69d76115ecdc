"""Training and evaluation of zoo detectors: the glue behind ``kssd train`` and ``kssd evaluate``.

:func:`train` builds (or takes) a detector, turns a data argument into a ``tf.data`` pipeline,
checks that the targets hold positives, and runs ``model.fit`` with the kssd callbacks
(:class:`~kssd.callbacks.NaNGuard`, :class:`~kssd.callbacks.DetectionEvaluator`,
:class:`~kssd.callbacks.ResumableCheckpoint`, CSV and TensorBoard logs). :func:`evaluate`
runs a detector over a dataset and scores it. Data arguments (see :func:`resolve_data`):

* ``"shapes"`` or ``"shapes:N"``: the generated shapes dataset (N images, default 2000);
* a TFRecord file, glob or directory (``<split>-*.tfrecord`` shards);
* a dataset root the kssd readers understand (WIDER FACE, VOC, COCO, YOLO layouts).

The package is split by concern: :mod:`~kssd_zoo.training.data` (data arguments, train/val
split), :mod:`~kssd_zoo.training.fit` (:func:`train`), :mod:`~kssd_zoo.training.evaluation`
(:func:`evaluate`), :mod:`~kssd_zoo.training.distribute` (``strategy=``: several devices,
:func:`resolve_distribution`) and :mod:`~kssd_zoo.training.tables` (:func:`results_table`); the
public names are re-exported here.

Examples:
    >>> from kssd_zoo.training import resolve_data
    >>> records, info = resolve_data("shapes:8", split="val")
    >>> len(records), info["class_names"]
    (8, ['circle', 'square', 'triangle'])
"""

from kssd_zoo.training.data import DEFAULT_SHAPES, count_positives, resolve_data, split_train_val
from kssd_zoo.training.distribute import resolve_distribution
from kssd_zoo.training.evaluation import evaluate
from kssd_zoo.training.fit import train
from kssd_zoo.training.tables import results_table

__all__ = [
    "DEFAULT_SHAPES",
    "count_positives",
    "evaluate",
    "resolve_data",
    "resolve_distribution",
    "results_table",
    "split_train_val",
    "train",
]

"""TensorFlow settings kssd asks for before TensorFlow is imported.

TensorFlow's oneDNN kernels (convolutions and batch normalization, forward and backward) are on
by default only on x86 CPUs with AVX-512 neural-network extensions (VNNI, BF16, AMX); on other
x86 CPUs (AVX2 machines, AMD EPYC) they are off, and a training step of the slim face SSD runs
about 1.5x slower on such a 2-core CPU (``benchmarks/bench_train.py``). ``import kssd`` turns
them on when ``TF_ENABLE_ONEDNN_OPTS`` is not set and TensorFlow is not imported yet.
``TF_ENABLE_ONEDNN_OPTS=0`` keeps them off; a program that imports TensorFlow before kssd keeps
TensorFlow's own choice.

Examples:
    >>> from kssd._tensorflow_defaults import prefer_onednn
    >>> prefer_onednn({"TF_ENABLE_ONEDNN_OPTS": "0"}, tensorflow_imported=False)
    False
    >>> environ = {}
    >>> prefer_onednn(environ, tensorflow_imported=False), environ
    (True, {'TF_ENABLE_ONEDNN_OPTS': '1'})
"""

import os
import sys

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


def prefer_onednn(environ=None, tensorflow_imported=None):
    """Set ``TF_ENABLE_ONEDNN_OPTS=1`` unless it is set or TensorFlow is imported already.

    Args:
        environ: the environment to change, default ``os.environ``.
        tensorflow_imported: whether TensorFlow is imported, default: looked up in
            ``sys.modules``.

    Returns:
        True when the variable was set here.
    """
    environ = os.environ if environ is None else environ
    if tensorflow_imported is None:
        tensorflow_imported = "tensorflow" in sys.modules
    if tensorflow_imported or ONEDNN_VARIABLE in environ:
        return False
    environ[ONEDNN_VARIABLE] = "1"
    return True

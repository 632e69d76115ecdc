"""Pretrained weights for zoo models: presets, a verified download cache, converters, loading.

* :func:`load_weights` ``(model, weights)``: None, a path (``.onnx``, ``.weights.h5``,
  ``.keras``) or a preset name.
* :func:`fetch` ``(url, sha256, cache_dir=None, fname=None)``: download once into
  ``$KSSD_CACHE`` (default ``~/.keras/kssd``), verified by sha256.
* :data:`PRESETS`: name -> url, sha256, format, target model.

Examples:
    >>> from kssd_zoo.weights import PRESETS, fetch, load_weights
    >>> PRESETS["ultraface_slim_320"]["model"]
    'ultraface_slim'
"""

from kssd_zoo.weights.download import ChecksumError, FetchError, fetch
from kssd_zoo.weights.loading import load_weights
from kssd_zoo.weights.presets import PRESETS

__all__ = ["PRESETS", "ChecksumError", "FetchError", "fetch", "load_weights"]

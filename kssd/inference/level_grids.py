"""LevelGrids: stand-in feature maps with each detection level's grid, for AnchorBoxes."""

import keras
from keras import ops

from kssd.anchors import hw_pair


@keras.saving.register_keras_serializable(package="kssd")
class LevelGrids(keras.layers.Layer):
    """One small tensor per detection level whose spatial shape is that level's grid.

    :class:`kssd.layers.AnchorBoxes` reads only the shapes of the feature maps. When the
    network is a closed model that returns only ``y_pred``, this layer supplies them from
    the network input: with ``steps`` a level's grid is ``ceil(H / step)`` x ``ceil(W / step)``
    (the kssd feature-map rule, taken as a strided slice ``images[:1, ::s, ::s, :1]``);
    with ``feature_sizes`` (fixed-size models) the grid is constant.

    Args:
        steps: per-level stride (int or ``(h, w)``), default None.
        feature_sizes: per-level grid (int or ``(h, w)``), used instead of ``steps`` when
            given, default None.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        List of float32 tensors ``(1, h_k, w_k, 1)``, one per level.

    Raises:
        ValueError: neither ``steps`` nor ``feature_sizes`` given.

    Examples:
        >>> import numpy as np
        >>> from kssd.inference import LevelGrids
        >>> grids = LevelGrids(steps=[8, 16])(np.zeros((2, 240, 330, 3), "float32"))
        >>> [tuple(g.shape) for g in grids]
        [(1, 30, 42, 1), (1, 15, 21, 1)]
    """

    def __init__(self, steps=None, feature_sizes=None, **kwargs):
        super().__init__(**kwargs)
        if steps is None and feature_sizes is None:
            raise ValueError("LevelGrids needs `steps` or `feature_sizes` (one entry per level)")
        source, name = (feature_sizes, "feature_sizes") if feature_sizes is not None else (steps, "steps")
        if not isinstance(source, (list, tuple)) or not source:
            raise ValueError(f"`{name}` must be a non-empty list (one entry per level), got {source!r}")
        self._pairs = [hw_pair(v, f"{name}[{k}]") for k, v in enumerate(source)]
        self._use_sizes = feature_sizes is not None
        self.steps = steps
        self.feature_sizes = feature_sizes

    def call(self, images):
        if self._use_sizes:
            return [ops.zeros((1, int(h), int(w), 1), "float32") for h, w in self._pairs]
        grids = []
        for sh, sw in self._pairs:
            sh, sw = int(sh), int(sw)
            grids.append(ops.cast(images[:1, ::sh, ::sw, :1], "float32"))
        return grids

    def compute_output_spec(self, images):
        out = []
        for sh, sw in self._pairs:
            if self._use_sizes:
                h, w = int(sh), int(sw)
            else:
                h = None if images.shape[1] is None else -(-images.shape[1] // int(sh))
                w = None if images.shape[2] is None else -(-images.shape[2] // int(sw))
            out.append(keras.KerasTensor((1, h, w, 1), dtype="float32"))
        return out

    def get_config(self):
        config = super().get_config()
        config.update({"steps": self.steps, "feature_sizes": self.feature_sizes})
        return config

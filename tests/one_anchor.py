"""A detector with one anchor whose predictions are constants: hand-checkable decoding."""

import keras
import numpy as np

from kssd.layers import AnchorBoxes
from kssd.models import SSDDetector

#: One anchor at the centre of a 16 x 16 input, half its size: (0.5, 0.5, 0.5, 0.5) centre form.
ONE_ANCHOR = {"steps": [16], "min_sizes": [[8]]}


class ConstantHead(keras.layers.Layer):
    """Predicts ``row`` (4 offsets, then the logits) for every cell."""

    def __init__(self, row, **kwargs):
        super().__init__(**kwargs)
        self.row = [float(v) for v in row]

    def call(self, feature_map):
        return keras.ops.zeros_like(feature_map[..., :1]) + np.array(self.row, "float32")

    def compute_output_spec(self, feature_map):
        return keras.KerasTensor((*feature_map.shape[:3], len(self.row)), dtype="float32")


def one_anchor_detector(row, **kwargs):
    """An SSDDetector on 16 x 16 inputs with the single anchor of ``ONE_ANCHOR``."""
    images = keras.Input((16, 16, 3))
    grid = keras.layers.AveragePooling2D(16)(images)  # one 1 x 1 feature map
    return SSDDetector(
        keras.Model(images, [grid]),
        [ConstantHead(row)],
        anchor_generator=AnchorBoxes(**ONE_ANCHOR),
        num_classes=len(row) - 5,
        **kwargs,
    )

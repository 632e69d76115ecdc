"""toy_detector: a small, fast SSDDetector built from kssd alone, for examples and tests."""

import keras

from kssd.layers import AnchorBoxes, NonMaxSuppression
from kssd.models import SSDDetector


def toy_detector(input_size=(64, 64), num_classes=1, *, dynamic=False, name="toy_ssd", **kwargs):
    """A two-level SSD (strides 8 and 16, 2 anchors per cell) of a few thousand weights.

    Untrained (random weights); for docstring examples and tests that need a real
    :class:`kssd.models.SSDDetector` without the zoo.

    Args:
        input_size: ``(height, width)``, default ``(64, 64)``.
        num_classes: C, default 1.
        dynamic: build it fully convolutional (any input size), default False.
        name: model name, default ``"toy_ssd"``.
        **kwargs: more :class:`~kssd.models.SSDDetector` arguments (e.g. ``class_names``,
            ``prediction_decoder``).

    Examples:
        >>> from kssd.testing import toy_detector
        >>> model = toy_detector()
        >>> model.anchors.shape, model.feature_shapes
        ((160, 4), [(8, 8), (4, 4)])
    """
    height, width = (None, None) if dynamic else input_size
    images = keras.Input((height, width, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="normalization")(images)
    x = keras.layers.Conv2D(8, 3, strides=4, padding="same", activation="relu", name="stem")(x)
    stride8 = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="stride8")(x)
    stride16 = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="stride16")(
        stride8
    )
    backbone = keras.Model(images, [stride8, stride16], name=name)
    heads = [
        keras.layers.Conv2D(2 * (4 + num_classes + 1), 3, padding="same", name=f"head{level}")
        for level in range(2)
    ]
    kwargs.setdefault("prediction_decoder", NonMaxSuppression(score_threshold=0.05, max_detections=20))
    return SSDDetector(
        backbone,
        heads,
        anchor_generator=AnchorBoxes(steps=[8, 16], min_sizes=[[8, 16], [24, 40]], extra_box=False),
        num_classes=num_classes,
        normalization={"scale": 1 / 127.5, "offset": -1.0},
        input_size=tuple(input_size),
        dynamic=dynamic,
        name=name,
        **kwargs,
    )

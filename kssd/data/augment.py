"""Augmentation chains for detection training: the face chain of the slim face SSD tutorial and
the SSD paper's chain.

A chain is a function ``chain(image, boxes, labels, seed, output_size, **options)`` returning
``(image, boxes, labels)`` with the image resized to ``output_size`` = ``(height, width)``.
``image`` is float32 RGB 0..255, ``boxes`` are **absolute pixel** ``xyxy`` (in the pixels of the
image they come with, and of the output image on return), ``seed`` is a (2,) int tensor for the
stateless random ops. Chains are graph-mode TensorFlow for ``tf.data.Dataset.map``; the same seed
always gives the same output. :func:`kssd.data.load_dataset` picks one by name (``"face"``,
``"ssd"``, ``"none"``) or takes any function with this signature.

Keras core's bbox-aware preprocessing layers (``keras.layers.RandomFlip(bounding_box_format=...)``
and friends) draw their randomness from a stateful seed generator, so under a parallel
``tf.data`` map their results depend on thread scheduling; kssd's chains use stateless ops so a
seeded pipeline is reproducible. Keras layers can still be added after a chain with
:func:`keras_layers_augmentation`.
"""

import tensorflow as tf

from kssd.data.augment_geometric import (
    expand,
    min_iou_crop,
    pad_to_square,
    random_flip,
    random_resize,
    random_square_crop,
    resize,
)
from kssd.data.augment_photometric import photometric_distort
from kssd.registry import Registry, UnknownNameError, did_you_mean


def _split(seed, num):
    return tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num))


def face_augment(
    image,
    boxes,
    labels,
    seed,
    output_size,
    *,
    crop_scales=(0.3, 0.45, 0.6, 0.8, 1.0),
    max_tries=250,
    min_iof=1.0,
    resize_methods=None,
    flip_probability=0.5,
    brightness=32.0 / 255.0,
    contrast=(0.5, 1.5),
    saturation=(0.5, 1.5),
    hue=18.0 / 360.0,
    distort_probability=1.0,
):
    """The face training chain of the slim face SSD tutorial: square crop, pad to square, random
    resize, flip, distort.

    1. :func:`~kssd.data.augment_geometric.random_square_crop` (side ``crop_scales`` x short side,
       up to ``max_tries`` candidates, at least one face kept whole, faces kept by centre);
    2. :func:`~kssd.data.augment_geometric.pad_to_square` with the mean colour (for images left
       uncropped);
    3. :func:`~kssd.data.augment_geometric.random_resize` to ``output_size`` with a random
       interpolation (the square is stretched to the output's aspect ratio, as in the tutorial);
    4. :func:`~kssd.data.augment_geometric.random_flip` (left-right);
    5. :func:`~kssd.data.augment_photometric.photometric_distort`.

    Args:
        image: float32 (H, W, 3) RGB 0..255.
        boxes: float32 (N, 4) absolute ``xyxy``.
        labels: int32 (N,).
        seed: int tensor (2,).
        output_size: ``(height, width)``.
        crop_scales: default ``(0.3, 0.45, 0.6, 0.8, 1.0)``.
        max_tries: default 250.
        min_iof: default 1.0.
        resize_methods: interpolations to draw from, default None = all five of
            :data:`~kssd.data.augment_geometric.RESIZE_METHODS`.
        flip_probability: default 0.5.
        brightness: default 32/255. contrast: default (0.5, 1.5). saturation: default (0.5, 1.5).
        hue: default 18/360 (see :func:`~kssd.data.augment_photometric.photometric_distort`).
        distort_probability: chance of each photometric change, default 1.0.

    Returns:
        ``(image float32 (h, w, 3), boxes (M, 4) absolute xyxy in the output, labels (M,))``.

    Examples:
        >>> import tensorflow as tf
        >>> from kssd.data.augment import face_augment
        >>> image, boxes, labels = face_augment(
        ...     tf.fill((120, 200, 3), 90.0), tf.constant([[50., 40., 70., 60.]]),
        ...     tf.constant([1]), tf.constant([7, 7]), (24, 32))
        >>> image.shape, boxes.shape
        (TensorShape([24, 32, 3]), TensorShape([1, 4]))
    """
    from kssd.data.augment_geometric import RESIZE_METHODS

    s_crop, s_resize, s_flip, s_distort = _split(seed, 4)
    image = tf.cast(image, tf.float32)
    image, boxes, labels = random_square_crop(
        image, boxes, labels, s_crop, scales=crop_scales, max_tries=max_tries, min_iof=min_iof
    )
    image = pad_to_square(image)
    image, boxes = random_resize(
        image, boxes, output_size, s_resize, methods=resize_methods or RESIZE_METHODS
    )
    image, boxes = random_flip(image, boxes, s_flip, probability=flip_probability)
    image = photometric_distort(
        image,
        s_distort,
        brightness=brightness,
        contrast=contrast,
        saturation=saturation,
        hue=hue,
        probability=distort_probability,
    )
    return image, boxes, labels


def ssd_augment(
    image,
    boxes,
    labels,
    seed,
    output_size,
    *,
    distort_probability=0.5,
    brightness=32.0 / 255.0,
    contrast=(0.5, 1.5),
    saturation=(0.5, 1.5),
    hue=18.0 / 360.0,
    expand_probability=0.5,
    max_expand_ratio=4.0,
    fill_value=None,
    min_ious=(None, 0.1, 0.3, 0.5, 0.7, 0.9),
    min_scale=0.3,
    max_aspect_ratio=2.0,
    max_tries=50,
    flip_probability=0.5,
    resize_method="bilinear",
):
    """The SSD paper's chain: photometric distortion, expand (zoom out), min-IoU crop, flip, resize.

    Args:
        image: float32 (H, W, 3) RGB 0..255.
        boxes: float32 (N, 4) absolute ``xyxy``.
        labels: int32 (N,).
        seed: int tensor (2,).
        output_size: ``(height, width)``.
        distort_probability: chance of each photometric change, default 0.5.
        brightness: default 32/255. contrast: default (0.5, 1.5). saturation: default (0.5, 1.5).
        hue: default 18/360.
        expand_probability: default 0.5. max_expand_ratio: default 4.0.
        fill_value: canvas colour, default None = the image's mean colour.
        min_ious: default ``(None, 0.1, 0.3, 0.5, 0.7, 0.9)``; None keeps the whole image.
        min_scale: default 0.3. max_aspect_ratio: default 2.0. max_tries: default 50.
        flip_probability: default 0.5.
        resize_method: final interpolation, default ``"bilinear"``.

    Returns:
        ``(image float32 (h, w, 3), boxes (M, 4) absolute xyxy in the output, labels (M,))``.

    Examples:
        >>> import tensorflow as tf
        >>> from kssd.data.augment import ssd_augment
        >>> image, boxes, labels = ssd_augment(
        ...     tf.fill((60, 80, 3), 90.0), tf.constant([[10., 10., 50., 40.]]),
        ...     tf.constant([2]), tf.constant([3, 1]), (30, 30))
        >>> image.shape, labels.numpy().tolist()
        (TensorShape([30, 30, 3]), [2])
    """
    s_distort, s_expand, s_crop, s_flip = _split(seed, 4)
    image = tf.cast(image, tf.float32)
    image = photometric_distort(
        image,
        s_distort,
        brightness=brightness,
        contrast=contrast,
        saturation=saturation,
        hue=hue,
        probability=distort_probability,
    )
    image, boxes = expand(
        image,
        boxes,
        s_expand,
        max_ratio=max_expand_ratio,
        probability=expand_probability,
        fill_value=fill_value,
    )
    image, boxes, labels = min_iou_crop(
        image,
        boxes,
        labels,
        s_crop,
        min_ious=min_ious,
        min_scale=min_scale,
        max_aspect_ratio=max_aspect_ratio,
        max_tries=max_tries,
    )
    image, boxes = random_flip(image, boxes, s_flip, probability=flip_probability)
    image, boxes = resize(image, boxes, output_size, method=resize_method)
    return image, boxes, labels


def no_augment(image, boxes, labels, seed, output_size, *, resize_method="bilinear"):
    """No augmentation: only resize to ``output_size`` (stretching), boxes scaled along.

    Args:
        image: float32 (H, W, 3). boxes: (N, 4) absolute ``xyxy``. labels: (N,).
        seed: ignored (kept for the common chain signature).
        output_size: ``(height, width)``.
        resize_method: default ``"bilinear"``.

    Returns:
        ``(image, boxes, labels)``.

    Examples:
        >>> import tensorflow as tf
        >>> from kssd.data.augment import no_augment
        >>> _, b, _ = no_augment(tf.zeros((10, 10, 3)), tf.constant([[1., 1., 5., 5.]]),
        ...                      tf.constant([1]), None, (20, 20))
        >>> b.numpy().tolist()
        [[2.0, 2.0, 10.0, 10.0]]
    """
    del seed
    image, boxes = resize(image, boxes, output_size, method=resize_method)
    return image, boxes, labels


#: Chains known by name to :func:`get_augmentation` and :func:`kssd.data.load_dataset`.
#: Augmentation chains by name (``augmentation=`` of :func:`kssd.data.load_dataset`, the
#: ``training.augmentation`` of zoo specs, ``kssd train --augmentation``). Register a new chain
#: with ``AUGMENTATIONS.register(name, fn)``.
AUGMENTATIONS = Registry("augmentation")
AUGMENTATIONS.register("face", face_augment)
AUGMENTATIONS.register("ssd", ssd_augment)
AUGMENTATIONS.register("none", no_augment)


def get_augmentation(name):
    """Return the chain called ``name`` (``"face"``, ``"ssd"`` or ``"none"``), or ``name`` itself
    when it is already a callable.

    Args:
        name: a chain name or a callable with the chain signature.

    Returns:
        The chain function.

    Raises:
        kssd.registry.UnknownNameError: an unknown name (a ``ValueError``), with close matches.

    Examples:
        >>> from kssd.data.augment import get_augmentation
        >>> get_augmentation("ssd").__name__
        'ssd_augment'
        >>> get_augmentation("fase")
        Traceback (most recent call last):
        ...
        kssd.registry.UnknownNameError: augmentation='fase' is unknown (did you mean 'face'?): expected one of face, none, ssd or a callable(image, boxes, labels, seed, output_size)
    """
    if callable(name):
        return name
    key = "none" if name is None else str(name).lower()
    if key not in AUGMENTATIONS:
        known = AUGMENTATIONS.names()
        raise UnknownNameError(
            f"augmentation={name!r} is unknown{did_you_mean(key, known)}: expected one of "
            f"{', '.join(known)} or a callable(image, boxes, labels, seed, output_size)",
            kind=AUGMENTATIONS.kind,
            name=name,
            known=known,
        )
    return AUGMENTATIONS[key]


def keras_layers_augmentation(layers, chain="none"):
    """Wrap Keras bbox-aware preprocessing layers as a chain, run after ``chain``.

    The layers receive ``{"images", "bounding_boxes": {"boxes", "labels"}}`` with boxes in
    absolute ``xyxy``, so build them with ``bounding_box_format="xyxy"``. They must keep the image
    size (flips, colour changes...): the output size is fixed by ``chain``. Boxes that a layer
    marks with label -1 or reduces to zero area are dropped. Their randomness is stateful, so
    these layers are not reproducible under a parallel map even with a seed.

    Args:
        layers: a Keras layer or a list of them.
        chain: the chain to run first (name or callable), default ``"none"`` (resize only).

    Returns:
        A chain function.

    Examples:
        >>> import keras, tensorflow as tf
        >>> from kssd.data.augment import keras_layers_augmentation
        >>> flip = keras.layers.RandomFlip("horizontal", bounding_box_format="xyxy", seed=1)
        >>> fn = keras_layers_augmentation([flip])
        >>> image, boxes, labels = fn(tf.zeros((8, 8, 3)), tf.constant([[0., 0., 4., 8.]]),
        ...                           tf.constant([1]), tf.constant([0, 0]), (8, 8))
        >>> boxes.shape
        TensorShape([1, 4])
    """
    layers = list(layers) if isinstance(layers, (list, tuple)) else [layers]
    for layer in layers:
        fmt = getattr(layer, "bounding_box_format", None)
        if fmt != "xyxy":
            raise ValueError(
                f"Keras layer {layer.name!r} has bounding_box_format={fmt!r}; build it with "
                "bounding_box_format='xyxy' (kssd chains work in absolute xyxy pixels)"
            )
    first = get_augmentation(chain)

    def apply(image, boxes, labels, seed, output_size):
        image, boxes, labels = first(image, boxes, labels, seed, output_size)
        data = {"images": image, "bounding_boxes": {"boxes": boxes, "labels": labels}}
        for layer in layers:
            data = layer(data, training=True)
        image = tf.cast(data["images"], tf.float32)
        boxes = tf.cast(data["bounding_boxes"]["boxes"], tf.float32)
        labels = tf.cast(data["bounding_boxes"]["labels"], tf.int32)
        size = boxes[:, 2:] - boxes[:, :2]
        keep = (labels > 0) & (size[:, 0] > 0) & (size[:, 1] > 0)
        return image, tf.boolean_mask(boxes, keep), tf.boolean_mask(labels, keep)

    return apply

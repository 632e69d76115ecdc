"""Photometric distortion (brightness, contrast, saturation, hue) for tf.data; boxes untouched.

Graph-mode TensorFlow with stateless random ops, like :mod:`kssd.data.augment_geometric`: the
same ``seed`` tensor (shape (2,)) always gives the same output.
"""

import tensorflow as tf


def _split(seed, num):
    return tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num))


def photometric_distort(
    image,
    seed,
    *,
    brightness=32.0 / 255.0,
    contrast=(0.5, 1.5),
    saturation=(0.5, 1.5),
    hue=18.0 / 360.0,
    probability=0.5,
):
    """Random brightness, contrast, saturation and hue changes of an RGB image in 0..255.

    Each of the four changes is applied with chance ``probability`` (1.0 = always, as in the face
    chain of the slim face SSD tutorial; 0.5 = the SSD paper's chain). Contrast comes either first or last, at random (the
    SSD paper's two orders). Strengths refer to an image scaled to 0..1: brightness adds a delta
    in ``[-brightness, brightness]``, contrast and saturation multiply by a factor drawn from their
    ranges, hue shifts by up to ``hue`` turns of the colour wheel. A strength of 0 / ``None``
    disables that change.

    Args:
        image: float32 (H, W, 3) RGB in 0..255.
        seed: int tensor (2,), stateless seed.
        brightness: largest brightness delta (0..1 scale), default 32/255.
        contrast: ``(lower, upper)`` contrast factor, default ``(0.5, 1.5)``.
        saturation: ``(lower, upper)`` saturation factor, default ``(0.5, 1.5)``.
        hue: largest hue shift in turns (0..0.5), default 18/360.
        probability: chance of each change, default 0.5.

    Returns:
        float32 (H, W, 3) RGB clipped to 0..255.

    Examples:
        >>> import tensorflow as tf
        >>> from kssd.data.augment_photometric import photometric_distort
        >>> image = tf.fill((4, 4, 3), 128.0)
        >>> out = photometric_distort(image, tf.constant([1, 2]), probability=1.0)
        >>> out.shape, bool(tf.reduce_all((out >= 0) & (out <= 255)))
        (TensorShape([4, 4, 3]), True)
    """
    image = tf.convert_to_tensor(image, tf.float32)
    seeds = _split(seed, 9)
    x = image / 255.0

    def maybe(index, fn, value):
        apply = tf.random.stateless_uniform([], seeds[index]) < probability
        return tf.cond(apply, lambda: fn(value), lambda: value)

    def do_brightness(value):
        if not brightness:
            return value
        return tf.image.stateless_random_brightness(value, brightness, seeds[4])

    def do_contrast(value):
        if not contrast:
            return value
        return tf.image.stateless_random_contrast(value, contrast[0], contrast[1], seeds[5])

    def do_saturation(value):
        if not saturation:
            return value
        return tf.image.stateless_random_saturation(
            tf.clip_by_value(value, 0.0, 1.0), saturation[0], saturation[1], seeds[6]
        )

    def do_hue(value):
        if not hue:
            return value
        return tf.image.stateless_random_hue(tf.clip_by_value(value, 0.0, 1.0), hue, seeds[7])

    contrast_first = tf.random.stateless_uniform([], seeds[8]) < 0.5
    x = maybe(0, do_brightness, x)
    x = tf.cond(contrast_first, lambda: maybe(1, do_contrast, x), lambda: x)
    x = maybe(2, do_saturation, x)
    x = maybe(3, do_hue, x)
    x = tf.cond(contrast_first, lambda: x, lambda: maybe(1, do_contrast, x))
    return tf.clip_by_value(x * 255.0, 0.0, 255.0)

"""ResizePad: uint8 images of any size -> the network's input, plus the factors to map boxes back."""

import math

import keras
from keras import ops

MODES = ("letterbox", "stretch", "pad")


def _is_static(value):
    return isinstance(value, int)


@keras.saving.register_keras_serializable(package="kssd")
class ResizePad(keras.layers.Layer):
    """Bring a batch of RGB images of any size to a detector's input and remember how.

    Three modes:

    * ``"letterbox"``: scale by ``min(h / H, w / W)`` (aspect ratio kept, up or down),
      resize bilinearly to ``(round(H * s), round(W * s))`` and pad at the bottom and right
      to ``target_size`` with ``pad_value``. The image keeps its top-left corner at the
      origin, so mapping boxes back is a pure scale.
    * ``"stretch"``: resize to ``target_size`` ignoring the aspect ratio.
    * ``"pad"``: no resize; pad at the bottom and right to the next multiple of
      ``pad_to_multiple`` (a fully convolutional model then runs at the image's own
      resolution, which keeps small faces detectable). ``pad_to_multiple=None`` does nothing.

    The images of one batch share one size (a tensor), so the factors are per batch.
    Computation is float32; the input may be uint8 or float in 0..255. Resizing uses
    bilinear interpolation with half-pixel centres and no antialiasing (the op that
    TFLite and ONNX run natively).

    Args:
        mode: ``"letterbox"``, ``"stretch"`` or ``"pad"``, default ``"letterbox"``.
        target_size: ``(h, w)`` of the network input, needed by ``letterbox``/``stretch``,
            default None.
        pad_to_multiple: ``pad`` mode: pad height and width up to a multiple of this
            (the model's largest stride), default None.
        pad_value: colour of the padding, a number or three numbers (RGB, 0..255),
            default 0.0. ``build_inference_model`` passes the spec's normalization mean,
            so padding normalizes to zero.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        Tuple ``(images, image_info)``: float32 ``(B, h, w, 3)`` network input, and float32
        ``(4,)`` = ``(factor_y, factor_x, H, W)`` where a box normalized to the network
        input maps to original pixels as ``y * factor_y``, ``x * factor_x``.

    Raises:
        ValueError: unknown ``mode``, or a missing/invalid ``target_size`` or
            ``pad_to_multiple`` (naming the argument).

    Examples:
        >>> import numpy as np
        >>> from kssd.inference import ResizePad
        >>> layer = ResizePad("letterbox", target_size=(240, 320))
        >>> images, info = layer(np.zeros((1, 480, 480, 3), "uint8"))
        >>> tuple(images.shape), np.asarray(info).tolist()
        ((1, 240, 320, 3), [480.0, 640.0, 480.0, 480.0])
    """

    def __init__(self, mode="letterbox", target_size=None, pad_to_multiple=None, pad_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}, got {mode!r}")
        if mode in ("letterbox", "stretch"):
            if (
                not isinstance(target_size, (list, tuple))
                or len(target_size) != 2
                or not all(isinstance(v, int) and v > 0 for v in target_size)
            ):
                raise ValueError(
                    f"`target_size` must be (height, width) positive ints for mode={mode!r}, "
                    f"got {target_size!r}"
                )
        if pad_to_multiple is not None and (
            isinstance(pad_to_multiple, bool) or not isinstance(pad_to_multiple, int) or pad_to_multiple < 1
        ):
            raise ValueError(f"`pad_to_multiple` must be a positive int or None, got {pad_to_multiple!r}")
        values = [pad_value] * 3 if isinstance(pad_value, (int, float)) else list(pad_value)
        if len(values) not in (1, 3):
            raise ValueError(f"`pad_value` must be a number or 3 numbers (RGB), got {pad_value!r}")
        self.mode = mode
        self.target_size = None if target_size is None else tuple(int(v) for v in target_size)
        self.pad_to_multiple = pad_to_multiple
        self.pad_value = pad_value
        self._pad_rgb = [float(v) for v in (values * 3 if len(values) == 1 else values)]

    # -- helpers that work on static ints (JAX, known shapes) and on TF graph tensors ----------
    def _resize(self, images, size_hw):
        if all(_is_static(v) for v in size_hw):
            return ops.image.resize(images, size_hw, interpolation="bilinear", antialias=False)
        import tensorflow as tf

        return tf.image.resize(images, tf.stack(size_hw), method="bilinear", antialias=False)

    def _pad(self, images, pad_h, pad_w):
        # One colour for the three channels (every zoo spec but VGG's): one padding op; else
        # shift by the colour, pad with zeros and shift back (the same values, 3 passes).
        single = len(set(self._pad_rgb)) == 1
        fill = self._pad_rgb[0] if single else 0.0
        value = None if single else ops.convert_to_tensor(self._pad_rgb, dtype="float32")
        shifted = images if single else images - value
        if _is_static(pad_h) and _is_static(pad_w):
            padded = ops.pad(shifted, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], constant_values=fill)
        else:
            import tensorflow as tf

            paddings = tf.stack([[0, 0], tf.stack([0, pad_h]), tf.stack([0, pad_w]), [0, 0]])
            padded = tf.pad(shifted, paddings, constant_values=fill)
            if single:  # the TFLite converter cannot infer PadV2's channels from dynamic paddings
                size = tf.shape(padded)
                padded = tf.reshape(padded, [-1, size[1], size[2], 3])
        return padded if single else padded + value

    def _at_least_one_pixel(self, images, height, width):
        import tensorflow as tf

        empty = tf.logical_or(tf.equal(height, 0), tf.equal(width, 0))
        grow_h, grow_w = tf.maximum(1 - height, 0), tf.maximum(1 - width, 0)
        return tf.cond(empty, lambda: self._pad(images, grow_h, grow_w), lambda: images)

    def call(self, images):
        if len(images.shape) != 4 or images.shape[-1] != 3:
            raise ValueError(f"`images` must have shape (batch, height, width, 3), got {tuple(images.shape)}")
        images = ops.cast(images, "float32")
        shape = ops.shape(images)
        height, width = shape[1], shape[2]
        height_f = ops.cast(height, "float32")
        width_f = ops.cast(width, "float32")
        static = _is_static(height) and _is_static(width)
        if not static:
            # An empty image (height or width 0) would reach the resize and convolution kernels
            # with no pixels, which crashes some runtimes (TFLite segfaults): grow it to one pixel
            # of padding colour. ``info`` keeps the true size, so every box collapses to nothing.
            images = self._at_least_one_pixel(images, height, width)
            shape = ops.shape(images)
            height, width = shape[1], shape[2]
        if self.mode == "stretch":
            th, tw = self.target_size
            out = self._resize(images, (th, tw))
            factor_y, factor_x = height_f, width_f
        elif self.mode == "letterbox":
            th, tw = self.target_size
            if static:
                scale = min(th / height, tw / width)
                rh = min(th, max(1, int(math.floor(height * scale + 0.5))))
                rw = min(tw, max(1, int(math.floor(width * scale + 0.5))))
                rh_f, rw_f = float(rh), float(rw)
            else:
                scale = ops.minimum(th / height_f, tw / width_f)
                rh = ops.cast(ops.clip(ops.floor(height_f * scale + 0.5), 1, th), "int32")
                rw = ops.cast(ops.clip(ops.floor(width_f * scale + 0.5), 1, tw), "int32")
                rh_f, rw_f = ops.cast(rh, "float32"), ops.cast(rw, "float32")
            resized = self._resize(images, (rh, rw))
            out = self._pad(resized, th - rh, tw - rw)
            out = ops.reshape(out, (-1, th, tw, 3))
            factor_y = th * height_f / rh_f
            factor_x = tw * width_f / rw_f
        else:
            m = self.pad_to_multiple
            if m is None or m == 1:
                out, factor_y, factor_x = images, height_f, width_f
            else:
                pad_h = (-height) % m if static else (m - height % m) % m
                pad_w = (-width) % m if static else (m - width % m) % m
                out = self._pad(images, pad_h, pad_w)
                factor_y = ops.cast(height + pad_h, "float32")
                factor_x = ops.cast(width + pad_w, "float32")
        info = ops.stack([factor_y, factor_x, height_f, width_f])
        return out, info

    def compute_output_spec(self, images):
        batch, height, width = images.shape[0], images.shape[1], images.shape[2]
        if self.mode in ("letterbox", "stretch"):
            height, width = self.target_size
        elif self.pad_to_multiple:
            m = self.pad_to_multiple
            height = None if height is None else -(-height // m) * m
            width = None if width is None else -(-width // m) * m
        return (
            keras.KerasTensor((batch, height, width, 3), dtype="float32"),
            keras.KerasTensor((4,), dtype="float32"),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mode": self.mode,
                "target_size": None if self.target_size is None else list(self.target_size),
                "pad_to_multiple": self.pad_to_multiple,
                "pad_value": self.pad_value,
            }
        )
        return config

"""AnchorBoxes: SSD anchors computed from the runtime image and feature-map shapes."""

import keras
from keras import ops

from kssd.anchors import generate_anchors, hw_pair, level_box_sizes


@keras.saving.register_keras_serializable(package="kssd")
class AnchorBoxes(keras.layers.Layer):
    """Anchors for the actual input size, so a fully convolutional SSD runs at any size.

    The layer is called with the image batch and the list of detection feature maps,
    ``anchors = AnchorBoxes(...)(images, [p3, p4, ...])``, and reads only their shapes:
    the image height/width from ``images`` (``(B, H, W, C)`` or ``(H, W, C)``) and each
    level's grid ``(h_k, w_k)`` from its feature map (``(B, h_k, w_k, C_k)`` or
    ``(h_k, w_k, C_k)``, channels last). The result follows the kssd anchor contract and
    equals :func:`kssd.anchors.generate_anchors` for the same sizes: float32 ``(A, 4)``
    normalized ``(cx, cy, w, h)``, level by level, row-major, one cell's anchors contiguous.

    Two anchor styles, as in :mod:`kssd.anchors` (give exactly one of ``min_sizes`` or
    ``scales``):

    * explicit sizes: ``steps`` and per-level ``min_sizes`` in pixels (int or ``(h, w)``);
      widths/heights are divided by the runtime image width/height.
    * SSD paper: ``scales`` (one more than levels), ``aspect_ratios`` and ``extra_box``;
      sizes are relative to the image.

    Centres sit at ``(j + 0.5) * step / image_dim`` (``centers="step"``, the default when
    ``steps`` is given) or at ``(j + 0.5) / grid_dim`` of the feature map (``centers="grid"``,
    the default without steps; the released UltraFace priors).

    When all sizes are static (eager calls, JAX, graphs traced for a fixed input size) the
    anchors are computed once per size with :func:`kssd.anchors.generate_anchors` and returned
    as a constant; when a size is unknown at trace time (a ``tf.function`` with ``None``
    spatial dimensions) they are computed in the graph with ``keras.ops``.

    Args:
        steps: per-level stride in pixels (int or ``(h, w)`` pair), default None.
        min_sizes: explicit style, per-level lists of box sizes in pixels, default None.
        scales: SSD-paper style, ``L + 1`` relative scales, default None.
        aspect_ratios: SSD-paper style, per-level lists of ratios (``r`` adds ``r`` and
            ``1/r``), default None (no extra ratios).
        extra_box: SSD-paper style, add the ``sqrt(s_k * s_k+1)`` box, default True.
        clip: clip the centre-form values to [0, 1], default False.
        centers: ``"step"`` or ``"grid"`` centre placement (see above), default None = "step"
            with steps, else "grid".
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``...).

    Returns:
        Called on ``(images, feature_maps)``: float32 tensor ``(A, 4)`` with
        ``A = sum_k h_k * w_k * anchors_per_cell_k``.

    Raises:
        ValueError: malformed anchor arguments (naming them) at construction; wrong ranks or
            a wrong number of feature maps at call time.

    Examples:
        >>> import numpy as np
        >>> from kssd.layers import AnchorBoxes
        >>> layer = AnchorBoxes(steps=[8, 16, 32, 64],
        ...     min_sizes=[[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]])
        >>> images = np.zeros((1, 240, 320, 3), "float32")
        >>> maps = [np.zeros((1, -(-240 // s), -(-320 // s), 8), "float32") for s in (8, 16, 32, 64)]
        >>> tuple(layer(images, maps).shape)
        (4420, 4)
    """

    def __init__(
        self,
        steps=None,
        min_sizes=None,
        scales=None,
        aspect_ratios=None,
        extra_box=True,
        clip=False,
        centers=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if centers not in (None, "step", "grid"):
            raise ValueError(f"`centers` must be 'step', 'grid' or None, got {centers!r}")
        if centers == "step" and steps is None:
            raise ValueError("`centers='step'` needs `steps`")
        sizes, relative = level_box_sizes(
            min_sizes=min_sizes, scales=scales, aspect_ratios=aspect_ratios, extra_box=extra_box
        )
        if steps is not None:
            if not isinstance(steps, (list, tuple)) or len(steps) != len(sizes):
                levels = "min_sizes" if min_sizes is not None else "len(scales) - 1"
                raise ValueError(
                    f"`steps` must be a list with one stride per level ({len(sizes)} levels from "
                    f"`{levels}`), got {steps!r}"
                )
            self._step_pairs = [hw_pair(s, f"steps[{k}]") for k, s in enumerate(steps)]
            for k, (sh, sw) in enumerate(self._step_pairs):
                if not (sh > 0 and sw > 0):
                    raise ValueError(f"`steps[{k}]` must be positive, got {steps[k]!r}")
        else:
            self._step_pairs = None
        self.steps = steps
        self.min_sizes = min_sizes
        self.scales = scales
        self.aspect_ratios = aspect_ratios
        self.extra_box = extra_box
        self.clip = clip
        self.centers = centers
        self._step_centres = self._step_pairs is not None and centers != "grid"
        self._cell_sizes = [s.astype("float32") for s in sizes]  # (n_k, 2) of (w, h)
        self._relative = relative
        self._cache = {}  # static sizes -> NumPy anchors

    @property
    def num_levels(self):
        """Number of detection levels (feature maps expected at call time)."""
        return len(self._cell_sizes)

    def _check_inputs(self, images, feature_maps):
        if len(images.shape) not in (3, 4):
            raise ValueError(
                "`images` must have shape (batch, height, width, channels) or "
                f"(height, width, channels), got shape {tuple(images.shape)}"
            )
        if not isinstance(feature_maps, (list, tuple)) or len(feature_maps) != self.num_levels:
            got = (
                len(feature_maps) if isinstance(feature_maps, (list, tuple)) else type(feature_maps).__name__
            )
            raise ValueError(
                f"`feature_maps` must be a list of {self.num_levels} tensors (one per level), got {got}"
            )
        for k, fmap in enumerate(feature_maps):
            if len(fmap.shape) not in (3, 4):
                raise ValueError(
                    f"`feature_maps[{k}]` must have shape (batch, height, width, channels) or "
                    f"(height, width, channels), got shape {tuple(fmap.shape)}"
                )

    def build(self, images_shape, feature_maps_shape=None):
        """No weights to create (the inputs are checked at call time).

        Takes the input shapes by call argument name (``feature_maps_shape``: a list of
        shapes), as Keras builds layers by shapes; ``feature_maps_shape`` may be omitted (a
        build config with only the first input's shape).
        """

    def call(self, images, feature_maps):
        self._check_inputs(images, feature_maps)
        sizes = [images.shape[-3], images.shape[-2]]
        for fmap in feature_maps:
            sizes += [fmap.shape[-3], fmap.shape[-2]]
        if all(isinstance(v, int) for v in sizes):
            # Static shapes (eager, JAX, fixed-size graphs): NumPy, once per size, as a constant.
            return ops.convert_to_tensor(self._static_anchors(tuple(sizes)))
        return self._dynamic_anchors(images, feature_maps)

    def _static_anchors(self, sizes):
        if sizes not in self._cache:
            grids = [tuple(sizes[i : i + 2]) for i in range(2, len(sizes), 2)]
            self._cache[sizes] = generate_anchors(
                tuple(sizes[:2]),
                steps=self.steps,
                min_sizes=self.min_sizes,
                feature_sizes=grids,
                scales=self.scales,
                aspect_ratios=self.aspect_ratios,
                extra_box=self.extra_box,
                clip=self.clip,
                centers=self.centers,
            )
        return self._cache[sizes]

    def _dynamic_anchors(self, images, feature_maps):
        """The same anchors from runtime shape tensors (graphs with unknown sizes)."""
        image_shape = ops.shape(images)
        height = ops.cast(image_shape[-3], "float32")
        width = ops.cast(image_shape[-2], "float32")
        per_level = []
        for k, fmap in enumerate(feature_maps):
            fmap_shape = ops.shape(fmap)
            rows, cols = fmap_shape[-3], fmap_shape[-2]
            rows_f = ops.cast(rows, "float32")
            cols_f = ops.cast(cols, "float32")
            cy = ops.cast(ops.arange(rows), "float32") + 0.5
            cx = ops.cast(ops.arange(cols), "float32") + 0.5
            if self._step_centres:
                step_h, step_w = self._step_pairs[k]
                cy = cy * step_h / height
                cx = cx * step_w / width
            else:
                cy = cy / rows_f
                cx = cx / cols_f
            cell = ops.convert_to_tensor(self._cell_sizes[k])
            if self._relative:
                box_w, box_h = cell[:, 0], cell[:, 1]
            else:
                box_w, box_h = cell[:, 0] / width, cell[:, 1] / height
            n = self._cell_sizes[k].shape[0]
            grid = (rows, cols, n)
            level = ops.stack(
                [
                    ops.broadcast_to(cx[None, :, None], grid),
                    ops.broadcast_to(cy[:, None, None], grid),
                    ops.broadcast_to(box_w[None, None, :], grid),
                    ops.broadcast_to(box_h[None, None, :], grid),
                ],
                axis=-1,
            )
            per_level.append(ops.reshape(level, (-1, 4)))
        anchors = ops.concatenate(per_level, axis=0)
        if self.clip:
            anchors = ops.clip(anchors, 0.0, 1.0)
        return anchors

    def compute_output_spec(self, images, feature_maps):
        self._check_inputs(images, feature_maps)
        total = 0
        for k, fmap in enumerate(feature_maps):
            rows, cols = fmap.shape[-3], fmap.shape[-2]
            if rows is None or cols is None:
                total = None
                break
            total += rows * cols * self._cell_sizes[k].shape[0]
        return keras.KerasTensor((total, 4), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "steps": self.steps,
                "min_sizes": self.min_sizes,
                "scales": self.scales,
                "aspect_ratios": self.aspect_ratios,
                "extra_box": self.extra_box,
                "clip": self.clip,
                "centers": self.centers,
            }
        )
        return config

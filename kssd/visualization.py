"""Drawing detections on images (OpenCV) and tiling pictures into one file."""

import cv2
import numpy as np

_PALETTE = [
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
]


def class_colour(class_id):
    """RGB colour of a class id (stable across calls)."""
    return _PALETTE[int(class_id) % len(_PALETTE)]


def draw_detections(image, boxes, labels, scores=None, class_names=None, thickness=None):
    """Draw boxes with ``name score`` captions on a copy of an RGB image.

    Args:
        image: uint8 (or 0..255 float) array (H, W, 3) RGB.
        boxes: (K, 4) ``xyxy`` boxes in pixels.
        labels: (K,) class ids (1..C).
        scores: (K,) scores or None, default None.
        class_names: names of classes 1..C (index = id - 1), default None (ids are shown).
        thickness: line width, default None = scaled to the image size.

    Returns:
        uint8 (H, W, 3) RGB image with the detections drawn.

    Examples:
        >>> import numpy as np
        >>> from kssd.visualization import draw_detections
        >>> out = draw_detections(np.zeros((64, 64, 3), "uint8"), [[8, 8, 40, 40]], [1], [0.9])
        >>> out.shape, int(out[8, 20].sum()) > 0
        ((64, 64, 3), True)
    """
    canvas = np.ascontiguousarray(np.clip(np.asarray(image), 0, 255).astype("uint8"))
    if canvas.ndim != 3 or canvas.shape[-1] != 3:
        raise ValueError(f"`image` must have shape (H, W, 3), got {canvas.shape}")
    height, width = canvas.shape[:2]
    thickness = thickness or max(1, round(min(height, width) / 200))
    font_scale = max(0.3, min(height, width) / 800)
    boxes = np.asarray(boxes, "float32").reshape(-1, 4)
    for k, (box, label) in enumerate(zip(boxes, np.asarray(labels).reshape(-1))):
        colour = class_colour(label)
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness)
        name = class_names[int(label) - 1] if class_names else str(int(label))
        caption = name if scores is None else f"{name} {float(np.asarray(scores)[k]):.2f}"
        (text_w, text_h), base = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        top = max(y1 - text_h - base, 0)
        cv2.rectangle(canvas, (x1, top), (x1 + text_w, top + text_h + base), colour, -1)
        cv2.putText(
            canvas,
            caption,
            (x1, top + text_h),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    return canvas


def image_grid(images, columns=4, path=None, gap=4):
    """Tile same-sized RGB images into one picture, optionally writing it (PNG/JPEG by suffix).

    Args:
        images: list of uint8 (H, W, 3) RGB arrays of one size.
        columns: pictures per row, default 4.
        path: file to write, default None (only return the array).
        gap: white pixels between tiles, default 4.

    Returns:
        uint8 RGB array of the grid.

    Examples:
        >>> import numpy as np
        >>> from kssd.visualization import image_grid
        >>> image_grid([np.zeros((8, 8, 3), "uint8")] * 3, columns=2, gap=0).shape
        (16, 16, 3)
    """
    if not images:
        raise ValueError("`images` is empty")
    height, width = images[0].shape[:2]
    rows = -(-len(images) // columns)
    grid = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap, 3), 255, "uint8")
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        grid[
            r * (height + gap) : r * (height + gap) + height, c * (width + gap) : c * (width + gap) + width
        ] = img
    if path is not None and not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return grid

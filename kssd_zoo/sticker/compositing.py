"""Alpha compositing of RGBA stickers onto RGB images: scale, rotate, clip, blend in float.

Stickers are stored with straight alpha (PNG convention). Before any resampling they are
converted to **premultiplied** alpha (colour x alpha), so interpolation never mixes the colour
of fully transparent pixels into the edge (no dark or light halo). The blend is the "over"
operator on premultiplied colour, in float32:

    out = sticker_premultiplied + (1 - alpha) * background

then rounded to uint8. Scaling uses area averaging when shrinking (far-away faces get clean
small stickers) and bilinear interpolation otherwise; rotation is ``cv2.warpAffine`` with a
transparent (zero) border. The warped patch is clipped to the image, so stickers of faces
partly outside the frame are cut at the border.

Examples:
    >>> import numpy as np
    >>> from kssd_zoo.sticker.compositing import alpha_blend
    >>> bg = np.zeros((2, 2, 3), np.uint8)
    >>> patch = np.zeros((1, 1, 4), np.float32); patch[0, 0] = [0.5, 0.5, 0.5, 0.5]  # premultiplied
    >>> alpha_blend(bg, patch, 1, 1)[1, 1].tolist()
    [128, 128, 128]
"""

import math

import cv2
import numpy as np


def premultiply(rgba):
    """uint8 straight-alpha RGBA -> float32 premultiplied RGBA in 0..1.

    Examples:
        >>> import numpy as np
        >>> from kssd_zoo.sticker.compositing import premultiply
        >>> premultiply(np.array([[[255, 0, 0, 51]]], np.uint8)).astype(float).round(3).tolist()
        [[[0.2, 0.0, 0.0, 0.2]]]
    """
    rgba = np.asarray(rgba, np.float32) / 255.0
    return np.concatenate([rgba[..., :3] * rgba[..., 3:], rgba[..., 3:]], axis=-1)


def transform_sticker(premultiplied, reference_px, centre, scale, angle):
    """Scale and rotate a premultiplied sticker so that its reference point lands on ``centre``.

    Args:
        premultiplied: float32 (h, w, 4) premultiplied RGBA (0..1).
        reference_px: (x, y) reference point in sticker pixels.
        centre: (x, y) image position for the reference point.
        scale: sticker -> image scale (> 0).
        angle: degrees, clockwise positive on screen.

    Returns:
        ``(patch, x0, y0)``: float32 premultiplied patch and the image position of its top-left
        pixel (may be negative or beyond the image).

    Examples:
        >>> import numpy as np
        >>> from kssd_zoo.sticker.compositing import transform_sticker
        >>> patch, x0, y0 = transform_sticker(np.ones((4, 8, 4), np.float32), (4, 2), (100, 50), 0.5, 0)
        >>> patch.shape, x0, y0
        ((2, 4, 4), 98, 49)
    """
    height, width = premultiplied.shape[:2]
    new_w = max(1, int(round(width * scale)))
    new_h = max(1, int(round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    resized = cv2.resize(premultiplied, (new_w, new_h), interpolation=interpolation)
    if resized.ndim == 2:  # pragma: no cover - cv2 keeps 4 channels
        resized = resized[..., None]
    ref_x = float(reference_px[0]) * new_w / width
    ref_y = float(reference_px[1]) * new_h / height

    theta = math.radians(float(angle))
    cos, sin = math.cos(theta), math.sin(theta)
    # Image position of sticker pixel p: centre + R (p - ref), R rotating clockwise on screen.
    corners = np.array([[0, 0], [new_w, 0], [0, new_h], [new_w, new_h]], np.float64) - [ref_x, ref_y]
    rotated = corners @ np.array([[cos, sin], [-sin, cos]])
    xs = rotated[:, 0] + centre[0]
    ys = rotated[:, 1] + centre[1]
    x0, y0 = int(math.floor(xs.min())), int(math.floor(ys.min()))
    x1, y1 = int(math.ceil(xs.max())), int(math.ceil(ys.max()))
    if abs(theta) < 1e-9:
        # Pure translation: shift by the sub-pixel offset only.
        tx, ty = centre[0] - ref_x - x0, centre[1] - ref_y - y0
    else:
        # warpAffine works on pixel indices (centre of pixel k at k, not k + 0.5).
        tx = centre[0] - 0.5 - (cos * (ref_x - 0.5) - sin * (ref_y - 0.5)) - x0
        ty = centre[1] - 0.5 - (sin * (ref_x - 0.5) + cos * (ref_y - 0.5)) - y0
    matrix = np.array([[cos, -sin, tx], [sin, cos, ty]], np.float64)
    out_w, out_h = max(1, x1 - x0), max(1, y1 - y0)
    if abs(theta) < 1e-9 and abs(tx) < 1e-6 and abs(ty) < 1e-6 and (out_w, out_h) == (new_w, new_h):
        return np.ascontiguousarray(resized, np.float32), x0, y0
    patch = cv2.warpAffine(
        resized,
        matrix,
        (out_w, out_h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0, 0),
    )
    return patch.astype(np.float32), x0, y0


def alpha_blend(image, patch, x0, y0, *, out=None):
    """Composite a premultiplied RGBA ``patch`` onto an RGB ``image`` at ``(x0, y0)``, clipped.

    Args:
        image: uint8 (H, W, 3) RGB background.
        patch: float32 (h, w, 4) premultiplied RGBA in 0..1.
        x0, y0: image position of the patch's top-left pixel (may lie outside the image).
        out: array to write into (may be ``image``), default None = a copy of ``image``.

    Returns:
        uint8 (H, W, 3) composited image.

    Examples:
        >>> import numpy as np
        >>> from kssd_zoo.sticker.compositing import alpha_blend
        >>> bg = np.full((3, 3, 3), 200, np.uint8)
        >>> patch = np.ones((2, 2, 4), np.float32)            # opaque white
        >>> alpha_blend(bg, patch, 2, 2)[..., 0].tolist()     # only the corner pixel is inside
        [[200, 200, 200], [200, 200, 200], [200, 200, 255]]
    """
    image = np.asarray(image)
    if out is None:
        out = image.copy()
    height, width = image.shape[:2]
    ph, pw = patch.shape[:2]
    ix0, iy0 = max(x0, 0), max(y0, 0)
    ix1, iy1 = min(x0 + pw, width), min(y0 + ph, height)
    if ix0 >= ix1 or iy0 >= iy1:
        return out
    part = patch[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0]
    background = image[iy0:iy1, ix0:ix1].astype(np.float32)
    alpha = np.clip(part[..., 3:4], 0.0, 1.0)
    blended = part[..., :3] * 255.0 + (1.0 - alpha) * background
    out[iy0:iy1, ix0:ix1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return out


def composite(image, sticker, placement, *, out=None, premultiplied=None):
    """Paste ``sticker`` onto ``image`` at ``placement``.

    Args:
        image: uint8 (H, W, 3) RGB.
        sticker: :class:`~kssd_zoo.sticker.assets.Sticker`.
        placement: :class:`~kssd_zoo.sticker.placement.Placement`.
        out: array to write into, default None (a copy of ``image``).
        premultiplied: the sticker already premultiplied (cache), default None.

    Returns:
        uint8 (H, W, 3) RGB.

    Examples:
        >>> import numpy as np
        >>> from kssd_zoo.sticker.assets import load_sticker
        >>> from kssd_zoo.sticker.compositing import composite
        >>> from kssd_zoo.sticker.placement import Placement
        >>> img = np.zeros((100, 100, 3), np.uint8)
        >>> p = Placement((50.0, 50.0), 0.1, 0.0, "top_of_head", "box", 51.2)
        >>> bool((composite(img, load_sticker("crown"), p) != img).any())
        True
    """
    if premultiplied is None:
        premultiplied = premultiply(sticker.rgba)
    patch, x0, y0 = transform_sticker(
        premultiplied, sticker.reference_px, placement.centre, placement.scale, placement.angle
    )
    return alpha_blend(image, patch, x0, y0, out=out)

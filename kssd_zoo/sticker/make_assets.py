"""Draw the built-in stickers with OpenCV and write them as RGBA PNGs (straight alpha).

Run ``python -m kssd_zoo.sticker.make_assets`` to regenerate ``kssd_zoo/sticker/assets/*.png`` and
the demo photo ``astronaut_collage.jpg`` (:func:`make_demo_photo`).
Every sticker is drawn at 4x its final size on a transparent canvas and reduced with area
averaging in premultiplied form, which gives anti-aliased edges without dark fringes.

The anchor metadata of each sticker (which face point it goes to, its own reference point, its
width relative to the face) lives in :data:`kssd_zoo.sticker.assets.BUILTIN_STICKERS`.

Examples:
    >>> from kssd_zoo.sticker.make_assets import draw_sticker
    >>> draw_sticker("crown").shape
    (320, 512, 4)
"""

import argparse
from pathlib import Path

import cv2
import numpy as np

_SUPERSAMPLE = 4
ASSET_DIR = Path(__file__).resolve().parent / "assets"


def _canvas(height, width):
    return np.zeros((height * _SUPERSAMPLE, width * _SUPERSAMPLE, 4), np.uint8)


def _pts(points):
    return (np.asarray(points, np.float64) * _SUPERSAMPLE).round().astype(np.int32)


def _paint(canvas, draw, colour_rgb, alpha=255):
    """Run ``draw(layer)`` on a mask and paint ``colour_rgb`` where it drew (over what was there)."""
    mask = np.zeros(canvas.shape[:2], np.uint8)
    draw(mask)
    on = mask > 0
    canvas[on, :3] = colour_rgb
    canvas[on, 3] = alpha


def _reduce(canvas):
    """Downsample a supersampled straight-alpha RGBA canvas with premultiplied area averaging."""
    rgba = canvas.astype(np.float32) / 255.0
    premult = np.concatenate([rgba[..., :3] * rgba[..., 3:], rgba[..., 3:]], axis=-1)
    height, width = canvas.shape[0] // _SUPERSAMPLE, canvas.shape[1] // _SUPERSAMPLE
    small = cv2.resize(premult, (width, height), interpolation=cv2.INTER_AREA)
    alpha = small[..., 3:]
    rgb = np.where(alpha > 1e-6, small[..., :3] / np.maximum(alpha, 1e-6), 0.0)
    out = np.concatenate([rgb, alpha], axis=-1)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def draw_crown():
    """A golden crown with three points, jewels and a band; 512x320."""
    canvas = _canvas(320, 512)
    gold, dark_gold = (244, 196, 48), (184, 134, 11)
    outline = _pts([[40, 300], [40, 110], [140, 190], [256, 40], [372, 190], [472, 110], [472, 300]])
    _paint(canvas, lambda m: cv2.fillPoly(m, [outline], 255, cv2.LINE_AA), dark_gold)
    inner = _pts([[52, 290], [52, 134], [142, 206], [256, 62], [370, 206], [460, 134], [460, 290]])
    _paint(canvas, lambda m: cv2.fillPoly(m, [inner], 255, cv2.LINE_AA), gold)
    band = _pts([[40, 240], [472, 240], [472, 300], [40, 300]])
    _paint(canvas, lambda m: cv2.fillPoly(m, [band], 255, cv2.LINE_AA), dark_gold)
    for (x, y), colour in zip([(40, 104), (256, 34), (472, 104)], [(220, 20, 60)] * 3):
        _paint(
            canvas,
            lambda m, x=x, y=y: cv2.circle(m, tuple(_pts([x, y])), 18 * _SUPERSAMPLE, 255, -1, cv2.LINE_AA),
            colour,
        )
    for x, colour in zip([130, 256, 382], [(30, 144, 255), (220, 20, 60), (50, 205, 50)]):
        _paint(
            canvas,
            lambda m, x=x: cv2.circle(m, tuple(_pts([x, 270])), 18 * _SUPERSAMPLE, 255, -1, cv2.LINE_AA),
            colour,
        )
    return _reduce(canvas)


def draw_party_hat():
    """A striped party cone with a pompom on top; 320x400."""
    canvas = _canvas(400, 320)
    cone = _pts([[160, 40], [20, 380], [300, 380]])
    _paint(canvas, lambda m: cv2.fillPoly(m, [cone], 255, cv2.LINE_AA), (147, 112, 219))
    cone_mask = np.zeros(canvas.shape[:2], np.uint8)
    cv2.fillPoly(cone_mask, [cone], 255, cv2.LINE_AA)
    for k, y in enumerate(range(110, 380, 70)):
        stripe = np.zeros_like(cone_mask)
        cv2.line(
            stripe, tuple(_pts([0, y + 40])), tuple(_pts([320, y - 40])), 255, 18 * _SUPERSAMPLE, cv2.LINE_AA
        )
        stripe = np.minimum(stripe, cone_mask)
        on = stripe > 0
        canvas[on, :3] = (255, 215, 0) if k % 2 == 0 else (0, 206, 209)
        canvas[on, 3] = 255
    _paint(
        canvas,
        lambda m: cv2.circle(m, tuple(_pts([160, 40])), 30 * _SUPERSAMPLE, 255, -1, cv2.LINE_AA),
        (255, 99, 71),
    )
    return _reduce(canvas)


def draw_sunglasses():
    """Black sunglasses with a bridge, arms and a highlight; 512x192."""
    canvas = _canvas(192, 512)
    frame = (20, 20, 20)
    for cx in (136, 376):
        _paint(
            canvas,
            lambda m, cx=cx: cv2.ellipse(
                m, tuple(_pts([cx, 96])), tuple(_pts([104, 72])), 0, 0, 360, 255, -1, cv2.LINE_AA
            ),
            frame,
        )
        _paint(
            canvas,
            lambda m, cx=cx: cv2.ellipse(
                m, tuple(_pts([cx, 96])), tuple(_pts([92, 60])), 0, 0, 360, 255, -1, cv2.LINE_AA
            ),
            (45, 45, 60),
            alpha=235,
        )
        _paint(
            canvas,
            lambda m, cx=cx: cv2.ellipse(
                m, tuple(_pts([cx - 40, 70])), tuple(_pts([26, 10])), -25, 0, 360, 255, -1, cv2.LINE_AA
            ),
            (200, 200, 220),
            alpha=200,
        )
    _paint(
        canvas,
        lambda m: cv2.ellipse(
            m, tuple(_pts([256, 84])), tuple(_pts([30, 22])), 0, 180, 360, 255, 7 * _SUPERSAMPLE, cv2.LINE_AA
        ),
        frame,
    )
    for x0, x1 in ((8, 36), (476, 504)):
        _paint(
            canvas,
            lambda m, x0=x0, x1=x1: cv2.line(
                m, tuple(_pts([x0, 60])), tuple(_pts([x1, 60])), 255, 12 * _SUPERSAMPLE, cv2.LINE_AA
            ),
            frame,
        )
    return _reduce(canvas)


def draw_cat_whiskers():
    """Cat nose, mouth and six whiskers (three each side); 512x256."""
    canvas = _canvas(256, 512)
    ink = (40, 30, 30)
    for side in (-1, 1):
        for dy in (-40, 0, 40):
            start = [256 + side * 60, 128 + dy * 0.25]
            end = [256 + side * 240, 128 + dy * 1.6]
            _paint(
                canvas,
                lambda m, s=start, e=end: cv2.line(
                    m, tuple(_pts(s)), tuple(_pts(e)), 255, 6 * _SUPERSAMPLE, cv2.LINE_AA
                ),
                ink,
            )
    nose = _pts([[226, 104], [286, 104], [256, 140]])
    _paint(canvas, lambda m: cv2.fillPoly(m, [nose], 255, cv2.LINE_AA), (255, 130, 160))
    for side in (-1, 1):
        _paint(
            canvas,
            lambda m, side=side: cv2.ellipse(
                m,
                tuple(_pts([256 + side * 20, 150])),
                tuple(_pts([20, 16])),
                0,
                0,
                180,
                255,
                5 * _SUPERSAMPLE,
                cv2.LINE_AA,
            ),
            ink,
        )
    return _reduce(canvas)


DRAWERS = {
    "crown": draw_crown,
    "party_hat": draw_party_hat,
    "sunglasses": draw_sunglasses,
    "cat_whiskers": draw_cat_whiskers,
}


def draw_sticker(name):
    """Draw one built-in sticker.

    Args:
        name: one of ``crown``, ``party_hat``, ``sunglasses``, ``cat_whiskers``.

    Returns:
        uint8 (H, W, 4) RGBA array, straight (not premultiplied) alpha.

    Examples:
        >>> from kssd_zoo.sticker.make_assets import draw_sticker
        >>> int(draw_sticker("sunglasses")[96, 136, 3])  # tinted lens
        235
    """
    if name not in DRAWERS:
        raise KeyError(f"unknown built-in sticker {name!r}; known: {', '.join(sorted(DRAWERS))}")
    return DRAWERS[name]()


#: The demo photo: a public-domain portrait at six sizes, for near and far faces in one picture.
DEMO_PHOTO = ASSET_DIR / "astronaut_collage.jpg"

#: (tile size in px, left, top) of each copy on the 1280x720 canvas: faces from about 170 to 14 px wide.
COLLAGE_TILES = (
    (480, 40, 120),
    (240, 560, 180),
    (150, 840, 250),
    (96, 1010, 300),
    (60, 1130, 330),
    (40, 1200, 360),
)


def make_demo_photo(path=DEMO_PHOTO):
    """Write the demo photo: scikit-image's ``astronaut`` (NASA portrait of Eileen Collins, public
    domain) at six sizes on a 1280x720 background. Needs scikit-image (a ``[dev]`` dependency)."""
    from skimage import data

    from kssd.data.images import write_image

    portrait = data.astronaut()
    rows = np.linspace(0.8, 1.2, 720)[:, None, None]
    canvas = (np.full((720, 1280, 3), (38, 52, 74), np.float64) * rows).clip(0, 255).astype(np.uint8)
    for size, left, top in COLLAGE_TILES:
        canvas[top : top + size, left : left + size] = cv2.resize(
            portrait, (size, size), interpolation=cv2.INTER_AREA
        )
    write_image(path, canvas)
    return path


def write_assets(directory=ASSET_DIR):
    """Draw every built-in sticker and write ``<name>.png`` (RGBA) into ``directory``.

    Args:
        directory: output folder, default the package's ``assets/``.

    Returns:
        List of the written paths.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in DRAWERS:
        rgba = draw_sticker(name)
        path = directory / f"{name}.png"
        bgra = cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA)
        if not cv2.imwrite(str(path), bgra, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
            raise OSError(f"could not write {path}")
        written.append(path)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description="Draw kssd's built-in stickers as RGBA PNGs.")
    parser.add_argument(
        "--out", default=str(ASSET_DIR), help="output folder (default: the package's assets/)"
    )
    args = parser.parse_args(argv)
    for path in write_assets(args.out):
        print(path)
    print(make_demo_photo(Path(args.out) / DEMO_PHOTO.name))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

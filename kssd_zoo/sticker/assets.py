"""Stickers: RGBA images with anchor metadata, the built-in set and loading of user PNGs.

A sticker says where it goes on a face:

* ``anchor``: the face point its reference point is placed on: ``top_of_head``, ``forehead``,
  ``eyes`` (midpoint between the eyes) or ``nose`` (nose tip);
* ``reference``: its own reference point, as fractions ``(u, v)`` of its width and height
  (``(0.5, 1.0)`` is the middle of the bottom edge);
* ``width_ratio``: its width relative to the face width.

Images are kept as uint8 RGBA with **straight** alpha (as PNG stores them); compositing
premultiplies them before any resampling (see :mod:`kssd_zoo.sticker.compositing`).

A PNG without an alpha channel (or a JPEG) is accepted with a warning: near-white pixels
(all channels >= 240, fading in from 225) become transparent. ``on_missing_alpha="error"``
refuses such files instead.

Examples:
    >>> from kssd_zoo.sticker.assets import load_sticker
    >>> crown = load_sticker("crown")
    >>> crown.anchor, crown.reference, crown.rgba.shape[-1]
    ('top_of_head', (0.5, 0.95), 4)
"""

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ASSET_DIR = Path(__file__).resolve().parent / "assets"

#: Face points a sticker can be anchored to.
ANCHORS = ("top_of_head", "forehead", "eyes", "nose")

#: Default reference point (u, v) of a user sticker for each anchor.
DEFAULT_REFERENCE = {
    "top_of_head": (0.5, 1.0),
    "forehead": (0.5, 0.5),
    "eyes": (0.5, 0.5),
    "nose": (0.5, 0.5),
}

#: Built-in stickers: name -> anchor, reference point (u, v) and width relative to the face.
BUILTIN_STICKERS = {
    "crown": {"anchor": "top_of_head", "reference": (0.5, 0.95), "width_ratio": 0.9},
    "party_hat": {"anchor": "top_of_head", "reference": (0.5, 0.97), "width_ratio": 0.6},
    "sunglasses": {"anchor": "eyes", "reference": (0.5, 0.5), "width_ratio": 1.0},
    "cat_whiskers": {"anchor": "nose", "reference": (0.5, 0.5), "width_ratio": 1.2},
}

#: Near-white threshold of the no-alpha fallback: fully transparent at and above, opaque below
#: ``_WHITE_SOFT``; linear in between.
_WHITE_HARD = 240
_WHITE_SOFT = 225


@dataclass(frozen=True)
class Sticker:
    """An RGBA sticker with its anchor metadata.

    Args:
        name: display name.
        rgba: uint8 (H, W, 4) RGBA, straight alpha.
        anchor: one of :data:`ANCHORS`.
        reference: ``(u, v)`` fractions of the sticker's width/height that go onto the anchor.
        width_ratio: sticker width / face width.

    Examples:
        >>> import numpy as np
        >>> from kssd_zoo.sticker.assets import Sticker
        >>> s = Sticker("dot", np.full((4, 4, 4), 255, np.uint8), "nose", (0.5, 0.5), 0.2)
        >>> s.reference_px
        (2.0, 2.0)
    """

    name: str
    rgba: np.ndarray
    anchor: str
    reference: tuple
    width_ratio: float

    @property
    def reference_px(self):
        """Reference point in sticker pixels (x, y)."""
        height, width = self.rgba.shape[:2]
        return (float(self.reference[0] * width), float(self.reference[1] * height))

    def metadata(self):
        """JSON-friendly description (no pixels)."""
        return {
            "name": self.name,
            "anchor": self.anchor,
            "reference": list(self.reference),
            "width_ratio": float(self.width_ratio),
            "size": list(self.rgba.shape[:2]),
        }


def list_stickers():
    """Names of the built-in stickers.

    Examples:
        >>> from kssd_zoo.sticker.assets import list_stickers
        >>> list_stickers()
        ['cat_whiskers', 'crown', 'party_hat', 'sunglasses']
    """
    return sorted(BUILTIN_STICKERS)


def _white_to_alpha(rgb):
    low = rgb.min(axis=-1).astype(np.float32)
    alpha = np.clip((_WHITE_HARD - low) / float(_WHITE_HARD - _WHITE_SOFT), 0.0, 1.0)
    return (alpha * 255.0 + 0.5).astype(np.uint8)


def read_rgba(path, *, on_missing_alpha="white"):
    """Read an image file as uint8 RGBA (straight alpha).

    Args:
        path: image file (PNG with alpha expected).
        on_missing_alpha: ``"white"`` (default): warn and make near-white pixels transparent;
            ``"opaque"``: warn and keep the whole image opaque; ``"error"``: raise.

    Returns:
        uint8 (H, W, 4) RGBA.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a readable image, or has no alpha with
            ``on_missing_alpha="error"``.

    Examples:
        >>> from kssd_zoo.sticker.assets import read_rgba, ASSET_DIR
        >>> read_rgba(ASSET_DIR / "crown.png").shape
        (320, 512, 4)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sticker file not found: {path}")
    data = np.fromfile(str(path), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"sticker file {path}: not a readable image (expected an RGBA PNG)")
    if image.dtype != np.uint8:
        image = (image.astype(np.float32) * (255.0 / np.iinfo(image.dtype).max) + 0.5).astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[-1] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if on_missing_alpha == "error":
        raise ValueError(
            f"sticker file {path}: no alpha channel (expected an RGBA PNG with a transparent "
            "background); save it with transparency, or allow the near-white fallback"
        )
    if on_missing_alpha == "opaque":
        warnings.warn(
            f"sticker file {path} has no alpha channel: it is pasted as an opaque rectangle", stacklevel=2
        )
        alpha = np.full(rgb.shape[:2], 255, np.uint8)
    elif on_missing_alpha == "white":
        warnings.warn(
            f"sticker file {path} has no alpha channel: treating near-white pixels (all channels "
            f">= {_WHITE_HARD}) as transparent; save an RGBA PNG for exact edges",
            stacklevel=2,
        )
        alpha = _white_to_alpha(rgb)
    else:
        raise ValueError(f"`on_missing_alpha` must be 'white', 'opaque' or 'error', got {on_missing_alpha!r}")
    return np.dstack([rgb, alpha])


def load_sticker(sticker="crown", *, anchor=None, reference=None, width_ratio=None, on_missing_alpha="white"):
    """A :class:`Sticker` from a built-in name, a PNG path, an RGBA array or a Sticker.

    Args:
        sticker: built-in name (:func:`list_stickers`), path to a PNG, uint8 RGBA array
            (H, W, 4) or a :class:`Sticker`; default ``"crown"``.
        anchor: override of the anchor (one of :data:`ANCHORS`); default None = the built-in's
            anchor, ``"top_of_head"`` for user images.
        reference: override of the reference point ``(u, v)``; default None = the built-in's, or
            :data:`DEFAULT_REFERENCE` of the anchor for user images.
        width_ratio: override of the width relative to the face; default None = the built-in's,
            1.0 for user images.
        on_missing_alpha: see :func:`read_rgba`, default ``"white"``.

    Returns:
        :class:`Sticker`.

    Raises:
        ValueError: unknown name or anchor, bad array shape, bad reference or width.

    Examples:
        >>> from kssd_zoo.sticker.assets import load_sticker
        >>> load_sticker("sunglasses", width_ratio=0.8).width_ratio
        0.8
    """
    if anchor is not None and anchor not in ANCHORS:
        raise ValueError(f"`anchor` must be one of {', '.join(ANCHORS)}; got {anchor!r}")
    if isinstance(sticker, Sticker):
        base = sticker
    elif isinstance(sticker, np.ndarray):
        if sticker.ndim != 3 or sticker.shape[-1] != 4:
            raise ValueError(f"a sticker array must be uint8 RGBA (H, W, 4); got shape {sticker.shape}")
        chosen = anchor or "top_of_head"
        base = Sticker(
            "array", np.ascontiguousarray(sticker.astype(np.uint8)), chosen, DEFAULT_REFERENCE[chosen], 1.0
        )
    elif isinstance(sticker, (str, os.PathLike)):
        text = os.fspath(sticker)
        if text in BUILTIN_STICKERS:
            meta = BUILTIN_STICKERS[text]
            base = Sticker(
                text,
                read_rgba(ASSET_DIR / f"{text}.png"),
                meta["anchor"],
                tuple(meta["reference"]),
                float(meta["width_ratio"]),
            )
        elif Path(text).expanduser().is_file():
            chosen = anchor or "top_of_head"
            rgba = read_rgba(Path(text).expanduser(), on_missing_alpha=on_missing_alpha)
            base = Sticker(Path(text).stem, rgba, chosen, DEFAULT_REFERENCE[chosen], 1.0)
        else:
            raise ValueError(
                f"sticker {text!r}: neither a built-in sticker ({', '.join(list_stickers())}) nor an "
                "existing image file"
            )
    else:
        raise TypeError(
            f"`sticker` must be a name, a path, an RGBA array or a Sticker; got {type(sticker).__name__}"
        )

    chosen_anchor = anchor or base.anchor
    if reference is None:
        # A new anchor on a user sticker moves its reference point to that anchor's default.
        user = base.name not in BUILTIN_STICKERS
        reference = DEFAULT_REFERENCE[chosen_anchor] if (anchor and user) else base.reference
    reference = tuple(float(v) for v in reference)
    if len(reference) != 2:
        raise ValueError(f"`reference` must be (u, v) fractions of the sticker size; got {reference!r}")
    width_ratio = base.width_ratio if width_ratio is None else float(width_ratio)
    if not width_ratio > 0:
        raise ValueError(f"`width_ratio` must be > 0 (sticker width / face width); got {width_ratio!r}")
    return Sticker(base.name, base.rgba, chosen_anchor, reference, width_ratio)

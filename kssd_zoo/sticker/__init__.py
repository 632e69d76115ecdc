"""The sticker application: stickers on every face, even far away, in photos, folders, video and webcam.

* :func:`sticker` ``(image, model=None, sticker="crown", ...)``: one call, returns the picture and
  the placements.
* :class:`Stickerer`: the reusable pipeline (detector, landmarks, sticker).
* :func:`load_sticker`, :func:`list_stickers`: built-in stickers and user PNGs.
* :mod:`kssd_zoo.sticker.batch` and :mod:`kssd_zoo.sticker.video`: folders, videos, webcam
  (what ``kssd sticker`` runs).

Examples:
    >>> from kssd_zoo.sticker import list_stickers
    >>> "crown" in list_stickers()
    True
"""

from kssd_zoo.sticker.assets import ANCHORS, Sticker, list_stickers, load_sticker
from kssd_zoo.sticker.placement import FaceFrame, Placement
from kssd_zoo.sticker.stickerer import Stickerer, sticker

__all__ = [
    "ANCHORS",
    "FaceFrame",
    "Placement",
    "Sticker",
    "Stickerer",
    "list_stickers",
    "load_sticker",
    "sticker",
]

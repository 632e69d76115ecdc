"""Sticker placement geometry: a face frame (eye midpoint, up direction, width) -> centre, scale, angle.

Coordinates are image pixels, x to the right and y **down**. Angles are in degrees, positive
= clockwise as seen on screen (the eye line tilting down to the right), i.e. ``atan2(dy, dx)``
of the eye line in image coordinates.

A face is summarised by a :class:`FaceFrame`: the midpoint between the eyes, the roll angle,
the face width and the nose tip. It comes from landmarks (:func:`frame_from_landmarks`) or,
for faces too small for landmarks, from the detection box alone (:func:`frame_from_box`, roll
0). The anchor points then follow from the frame, in face-width units ``W`` along the face's
up direction ``u``:

* ``eyes`` = eye midpoint; ``nose`` = nose tip;
* ``forehead`` = eyes + 0.30 W u; ``top_of_head`` = eyes + 0.60 W u.

Box-only frames put the eyes at 40 % and the nose tip at 62 % of the box height, centred
horizontally, with ``W`` = box width.

Examples:
    >>> from kssd_zoo.sticker.placement import frame_from_box
    >>> frame = frame_from_box([100, 100, 200, 250])
    >>> frame.eyes, frame.width, frame.angle
    ((150.0, 160.0), 100.0, 0.0)
    >>> frame.point("top_of_head")
    (150.0, 100.0)
"""

import math
from dataclasses import asdict, dataclass

import numpy as np

#: Offsets of the anchor points above the eye midpoint, in face widths.
ANCHOR_OFFSETS = {"eyes": 0.0, "forehead": 0.30, "top_of_head": 0.60}
#: Box-only frame: eye line and nose tip as fractions of the box height.
BOX_EYE_FRACTION = 0.40
BOX_NOSE_FRACTION = 0.62

# 68-point layout (iBUG 300-W, 0-based): jaw 0-16, nose tip 30, eyes 36-41 (image left) and
# 42-47 (image right).
_68_LEFT_EYE = slice(36, 42)
_68_RIGHT_EYE = slice(42, 48)
_68_NOSE_TIP = 30
# 5-point layout (dlib's 5-point model): 0-1 one eye's corners, 2-3 the other eye's, 4 below the
# nose. Eye corners span about 0.45 face widths in dlib's training data.
_5_EYE_SPAN_TO_FACE = 1.0 / 0.45


@dataclass(frozen=True)
class FaceFrame:
    """Where a face is: eye midpoint, roll angle, width and nose tip (pixels, degrees).

    Args:
        eyes: (x, y) midpoint between the eyes.
        angle: roll in degrees, clockwise positive (see module docstring).
        width: face width in pixels.
        nose: (x, y) nose tip.
        source: ``"landmarks"`` or ``"box"``.

    Examples:
        >>> from kssd_zoo.sticker.placement import FaceFrame
        >>> FaceFrame((10.0, 10.0), 90.0, 10.0, (0.0, 10.0)).point("forehead")
        (13.0, 10.0)
    """

    eyes: tuple
    angle: float
    width: float
    nose: tuple
    source: str = "box"

    @property
    def up(self):
        """Unit vector pointing from the chin to the top of the head."""
        theta = math.radians(self.angle)
        return (math.sin(theta), -math.cos(theta))

    def point(self, anchor):
        """The face point named ``anchor`` (``top_of_head``, ``forehead``, ``eyes``, ``nose``)."""
        if anchor == "nose":
            return (float(self.nose[0]), float(self.nose[1]))
        if anchor not in ANCHOR_OFFSETS:
            raise ValueError(f"unknown anchor {anchor!r}; expected top_of_head, forehead, eyes or nose")
        ux, uy = self.up
        offset = ANCHOR_OFFSETS[anchor] * self.width
        return (_r(self.eyes[0] + ux * offset), _r(self.eyes[1] + uy * offset))


@dataclass(frozen=True)
class Placement:
    """Where a sticker goes: its reference point's image position, scale and rotation.

    Args:
        centre: (x, y) image position of the sticker's reference point.
        scale: sticker pixels -> image pixels.
        angle: rotation in degrees, clockwise positive.
        anchor: the face point used.
        source: ``"landmarks"`` or ``"box"``.
        width: sticker width in image pixels.

    Examples:
        >>> from kssd_zoo.sticker.placement import Placement
        >>> Placement((1.0, 2.0), 0.5, 0.0, "nose", "box", 10.0).to_dict()["centre"]
        [1.0, 2.0]
    """

    centre: tuple
    scale: float
    angle: float
    anchor: str
    source: str
    width: float

    def to_dict(self):
        """JSON-friendly dict."""
        out = asdict(self)
        out["centre"] = [float(v) for v in self.centre]
        return out


def _r(value):
    return float(round(float(value), 6))


def frame_from_box(box):
    """A roll-free :class:`FaceFrame` from a face box ``(x1, y1, x2, y2)`` in pixels.

    Args:
        box: xyxy pixels.

    Returns:
        :class:`FaceFrame` with ``source="box"``.

    Examples:
        >>> from kssd_zoo.sticker.placement import frame_from_box
        >>> frame_from_box([0, 0, 50, 100]).nose
        (25.0, 62.0)
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    cx = (x1 + x2) / 2.0
    height = y2 - y1
    return FaceFrame(
        eyes=(_r(cx), _r(y1 + BOX_EYE_FRACTION * height)),
        angle=0.0,
        width=_r(x2 - x1),
        nose=(_r(cx), _r(y1 + BOX_NOSE_FRACTION * height)),
        source="box",
    )


def roll_angle(left_eye, right_eye):
    """Roll in degrees (clockwise positive) of the line from the image-left eye to the image-right eye.

    Examples:
        >>> from kssd_zoo.sticker.placement import roll_angle
        >>> roll_angle((0, 0), (10, 10))
        45.0
    """
    dx = float(right_eye[0]) - float(left_eye[0])
    dy = float(right_eye[1]) - float(left_eye[1])
    return _r(math.degrees(math.atan2(dy, dx)))


def frame_from_landmarks(points):
    """A :class:`FaceFrame` from 68-point or 5-point dlib landmarks.

    68 points: eyes = mean of points 36-41 and 42-47, width = distance between jaw points 0
    and 16, nose = point 30. 5 points: eyes = centres of the two corner pairs, width = corner
    span / 0.45, nose = point 4.

    Args:
        points: (68, 2) or (5, 2) array of (x, y) pixels.

    Returns:
        :class:`FaceFrame` with ``source="landmarks"``.

    Examples:
        >>> import numpy as np
        >>> from kssd_zoo.sticker.placement import frame_from_landmarks
        >>> pts = np.array([[60, 40], [50, 40], [10, 40], [20, 40], [35, 60]], float)
        >>> f = frame_from_landmarks(pts)
        >>> f.eyes, f.angle, round(f.width, 3)
        ((35.0, 40.0), 0.0, 111.111)
    """
    points = np.asarray(points, np.float64)
    if points.shape == (68, 2):
        a = points[_68_LEFT_EYE].mean(axis=0)
        b = points[_68_RIGHT_EYE].mean(axis=0)
        width = float(np.hypot(*(points[16] - points[0])))
        nose = points[_68_NOSE_TIP]
    elif points.shape == (5, 2):
        a = points[0:2].mean(axis=0)
        b = points[2:4].mean(axis=0)
        span = max(np.hypot(*(points[i] - points[j])) for i in range(4) for j in range(4))
        width = float(span * _5_EYE_SPAN_TO_FACE)
        nose = points[4]
    else:
        raise ValueError(f"landmarks must have shape (68, 2) or (5, 2); got {points.shape}")
    left, right = (a, b) if a[0] <= b[0] else (b, a)
    eyes = (left + right) / 2.0
    return FaceFrame(
        eyes=(_r(eyes[0]), _r(eyes[1])),
        angle=roll_angle(left, right),
        width=_r(width),
        nose=(_r(nose[0]), _r(nose[1])),
        source="landmarks",
    )


def place_sticker(sticker, frame):
    """Placement of ``sticker`` (:class:`~kssd_zoo.sticker.assets.Sticker`) on a face ``frame``.

    The sticker's reference point goes onto ``frame.point(sticker.anchor)``; its width becomes
    ``sticker.width_ratio * frame.width``; it is rotated by the face's roll.

    Args:
        sticker: a Sticker (uses ``rgba`` width, ``anchor``, ``width_ratio``).
        frame: a :class:`FaceFrame`.

    Returns:
        :class:`Placement`.

    Examples:
        >>> import numpy as np
        >>> from kssd_zoo.sticker.assets import Sticker
        >>> from kssd_zoo.sticker.placement import frame_from_box, place_sticker
        >>> s = Sticker("s", np.zeros((10, 200, 4), np.uint8), "eyes", (0.5, 0.5), 1.0)
        >>> p = place_sticker(s, frame_from_box([0, 0, 100, 100]))
        >>> p.centre, p.scale, p.width
        ((50.0, 40.0), 0.5, 100.0)
    """
    target_width = float(sticker.width_ratio) * float(frame.width)
    scale = target_width / float(sticker.rgba.shape[1])
    return Placement(
        centre=frame.point(sticker.anchor),
        scale=_r(scale),
        angle=float(frame.angle),
        anchor=sticker.anchor,
        source=frame.source,
        width=_r(target_width),
    )

"""Placement geometry, alpha blending and clipping against hand-computed values."""

import math
import warnings

import cv2
import numpy as np
import pytest

from kssd_zoo.sticker.assets import Sticker, list_stickers, load_sticker, read_rgba
from kssd_zoo.sticker.compositing import alpha_blend, composite, premultiply, transform_sticker
from kssd_zoo.sticker.placement import (
    FaceFrame,
    Placement,
    frame_from_box,
    frame_from_landmarks,
    place_sticker,
    roll_angle,
)


def _landmarks68(left_eye, right_eye, jaw_left, jaw_right, nose):
    points = np.zeros((68, 2))
    points[36:42] = left_eye
    points[42:48] = right_eye
    points[0], points[16], points[30] = jaw_left, jaw_right, nose
    return points


def test_roll_from_eye_landmarks():
    # Eye line from (100, 100) to (140, 140): 45 degrees clockwise on screen.
    pts = _landmarks68((100, 100), (140, 140), (80, 80), (160, 160), (110, 130))
    frame = frame_from_landmarks(pts)
    assert frame.angle == pytest.approx(45.0)
    assert frame.eyes == pytest.approx((120.0, 120.0))
    assert frame.width == pytest.approx(math.hypot(80, 80))
    # Up is perpendicular to the eye line: (sin 45, -cos 45).
    assert frame.up == pytest.approx((math.sqrt(0.5), -math.sqrt(0.5)))
    top = frame.point("top_of_head")
    expected = 0.6 * frame.width * math.sqrt(0.5)
    assert top == pytest.approx((120 + expected, 120 - expected))


def test_eye_order_does_not_flip_the_angle():
    # The same face with the two eye groups swapped gives the same (small) roll.
    a = frame_from_landmarks(_landmarks68((100, 100), (140, 104), (80, 100), (160, 100), (120, 120)))
    b = frame_from_landmarks(_landmarks68((140, 104), (100, 100), (80, 100), (160, 100), (120, 120)))
    assert a.angle == pytest.approx(b.angle) == pytest.approx(math.degrees(math.atan2(4, 40)))


def test_five_point_landmarks():
    pts = np.array([[60, 40], [50, 40], [10, 40], [20, 40], [35, 60]], float)
    frame = frame_from_landmarks(pts)
    assert frame.eyes == (35.0, 40.0) and frame.angle == 0.0
    assert frame.width == pytest.approx(50 / 0.45)
    assert frame.nose == (35.0, 60.0)
    with pytest.raises(ValueError, match=r"\(68, 2\) or \(5, 2\)"):
        frame_from_landmarks(np.zeros((10, 2)))


def test_roll_angle_signs():
    assert roll_angle((0, 0), (10, 0)) == 0.0
    assert roll_angle((0, 10), (10, 0)) == pytest.approx(-45.0)


def test_box_frame_and_scale_from_face_width():
    frame = frame_from_box([100, 50, 180, 150])  # 80 wide, 100 tall
    assert frame.eyes == (140.0, 90.0) and frame.nose == (140.0, 112.0) and frame.width == 80.0
    assert frame.point("forehead") == (140.0, 90.0 - 0.3 * 80)
    assert frame.point("top_of_head") == (140.0, 90.0 - 0.6 * 80)
    sticker = Sticker("s", np.zeros((50, 400, 4), np.uint8), "top_of_head", (0.5, 1.0), 0.9)
    placement = place_sticker(sticker, frame)
    assert placement.scale == pytest.approx(0.9 * 80 / 400)
    assert placement.width == pytest.approx(72.0)
    assert placement.centre == (140.0, 42.0)
    assert placement.angle == 0.0 and placement.source == "box"


def test_alpha_blend_hand_values():
    bg = np.array([[[100, 200, 50]]], np.uint8)
    # Straight colour (255, 0, 0) at alpha 0.25 -> premultiplied (0.25, 0, 0, 0.25).
    patch = premultiply(np.array([[[255, 0, 0, 64]]], np.uint8))
    out = alpha_blend(bg, patch, 0, 0)
    a = 64 / 255
    expected = [round(255 * a + (1 - a) * 100), round((1 - a) * 200), round((1 - a) * 50)]
    assert out[0, 0].tolist() == expected
    # Fully transparent leaves the background, fully opaque replaces it.
    assert alpha_blend(bg, premultiply(np.array([[[9, 9, 9, 0]]], np.uint8)), 0, 0)[0, 0].tolist() == [
        100,
        200,
        50,
    ]
    assert alpha_blend(bg, premultiply(np.array([[[9, 8, 7, 255]]], np.uint8)), 0, 0)[0, 0].tolist() == [
        9,
        8,
        7,
    ]


def test_no_dark_halo_when_scaling_and_rotating():
    # White opaque disc on a transparent (black in straight colour) canvas, pasted on white:
    # premultiplied resampling must never produce pixels darker than white.
    alpha = np.zeros((200, 200), np.uint8)
    cv2.circle(alpha, (100, 100), 60, 255, -1, cv2.LINE_AA)
    rgba = np.zeros((200, 200, 4), np.uint8)
    rgba[..., :3][alpha > 0] = 255  # straight colour: white where visible, black where transparent
    rgba[..., 3] = alpha
    sticker = Sticker("disc", rgba, "eyes", (0.5, 0.5), 1.0)
    bg = np.full((120, 120, 3), 255, np.uint8)
    for scale, angle in [(0.13, 0.0), (0.37, 30.0), (1.7, -12.0)]:
        out = composite(bg, sticker, Placement((60.0, 60.0), scale, angle, "eyes", "box", 0.0))
        assert out.min() == 255


def test_clipping_at_the_borders():
    rgba = np.full((10, 20, 4), 255, np.uint8)
    rgba[..., :3] = (255, 0, 0)
    sticker = Sticker("red", rgba, "eyes", (0.5, 0.5), 1.0)
    bg = np.zeros((30, 30, 3), np.uint8)
    # Centre at the top-left corner: only the bottom-right quarter (10 x 5 px) lands inside.
    out = composite(bg, sticker, Placement((0.0, 0.0), 1.0, 0.0, "eyes", "box", 20.0))
    red = out[..., 0] > 0
    assert red.sum() == 10 * 5 and red[:5, :10].all()
    # Entirely outside: unchanged.
    out = composite(bg, sticker, Placement((-100.0, 500.0), 1.0, 0.0, "eyes", "box", 20.0))
    assert not out.any()
    # Partly outside on the right/bottom.
    out = composite(bg, sticker, Placement((30.0, 30.0), 1.0, 0.0, "eyes", "box", 20.0))
    assert (out[..., 0] > 0).sum() == 10 * 5 and out[25:, 20:, 0].all()


def test_transform_places_the_reference_point():
    # A single opaque pixel as reference: after rotation it must land on the centre.
    rgba = np.zeros((41, 41, 4), np.uint8)
    rgba[20, 30] = 255  # reference point (30.5, 20.5) in pixel-centre terms
    sticker = Sticker("dot", rgba, "eyes", (30.5 / 41, 20.5 / 41), 1.0)
    for angle in (0.0, 90.0, 33.0):
        patch, x0, y0 = transform_sticker(premultiply(rgba), sticker.reference_px, (50.0, 60.0), 1.0, angle)
        ys, xs = np.nonzero(patch[..., 3] > 0.2)
        weights = patch[ys, xs, 3]
        cx = (xs + 0.5) @ weights / weights.sum() + x0
        cy = (ys + 0.5) @ weights / weights.sum() + y0
        assert (cx, cy) == pytest.approx((50.0, 60.0), abs=0.6)
    # 90 degrees clockwise: a pixel right of the reference ends up below it.
    rgba2 = np.zeros((41, 41, 4), np.uint8)
    rgba2[20, 35] = 255
    patch, x0, y0 = transform_sticker(premultiply(rgba2), (20.5, 20.5), (50.0, 60.0), 1.0, 90.0)
    ys, xs = np.nonzero(patch[..., 3] > 0.2)
    assert np.mean(ys) + y0 == pytest.approx(60 + 15, abs=1.0) and np.mean(xs) + x0 == pytest.approx(
        50, abs=1.0
    )


def test_builtin_stickers_have_alpha_and_metadata():
    names = list_stickers()
    assert {"crown", "party_hat", "sunglasses", "cat_whiskers"} <= set(names)
    for name in names:
        s = load_sticker(name)
        alpha = s.rgba[..., 3]
        assert alpha.min() == 0 and alpha.max() == 255  # transparent background, opaque drawing
        assert s.anchor in ("top_of_head", "forehead", "eyes", "nose") and s.width_ratio > 0


def test_user_png_with_and_without_alpha(tmp_path):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[5:15, 5:25] = (0, 0, 255, 255)
    path = tmp_path / "hat.png"
    cv2.imwrite(str(path), rgba)
    s = load_sticker(str(path), anchor="forehead")
    assert s.anchor == "forehead" and s.reference == (0.5, 0.5) and s.rgba.shape == (20, 30, 4)
    assert s.rgba[10, 10].tolist() == [255, 0, 0, 255]  # BGRA on disk -> RGBA
    # Without alpha: near-white becomes transparent, with a warning.
    rgb = np.full((20, 30, 3), 255, np.uint8)
    rgb[5:15, 5:25] = (0, 0, 200)
    flat = tmp_path / "flat.jpg"
    cv2.imwrite(str(flat), rgb)
    with pytest.warns(UserWarning, match="no alpha channel"):
        s = load_sticker(str(flat))
    assert s.rgba[0, 0, 3] == 0 and s.rgba[10, 10, 3] == 255
    with pytest.raises(ValueError, match="no alpha channel"):
        read_rgba(flat, on_missing_alpha="error")
    with pytest.raises(ValueError, match="neither a built-in sticker"):
        load_sticker("no_such_sticker")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_sticker("crown").name == "crown"


def test_face_frame_point_rejects_unknown_anchor():
    with pytest.raises(ValueError, match="unknown anchor"):
        FaceFrame((0, 0), 0.0, 10.0, (0, 5)).point("chin")

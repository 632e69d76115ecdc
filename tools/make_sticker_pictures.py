"""Regenerate the pictures of the stickers guide (docs/images/stickers/) with the default detector.

Usage:
    python tools/make_sticker_pictures.py [--out docs/images/stickers]

``crowd_before.jpg`` / ``crowd_crown.jpg``: the shipped demo photo (a public-domain NASA portrait
at seven sizes) before and after ``kssd_zoo.sticker(..., sticker="crown")``, 800 px wide;
``astronaut_<sticker>.jpg``: scikit-image's ``astronaut`` with each built-in sticker, cropped
around the face, 454x240. Prints the faces found and the sizes of those it missed.
"""

import argparse
from pathlib import Path

import cv2
import numpy as np

CROWD_WIDTH = 800
CROP_SIZE = (454, 240)


def _write(path, rgb, size):
    from kssd.files import write_atomically

    picture = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise RuntimeError(f"{path}: JPEG encoding failed")
    write_atomically(path, lambda temp: Path(temp).write_bytes(data.tobytes()))


def _crop_around(image, box, size):
    """A crop of aspect ``size`` around ``box`` (x0, y0, x1, y1), four face widths wide, room above."""
    x0, y0, x1, y1 = box
    width = min(image.shape[1], 4.0 * (x1 - x0))
    height = min(image.shape[0], width * size[1] / size[0])
    width = height * size[0] / size[1]
    left = int(np.clip((x0 + x1) / 2 - width / 2, 0, image.shape[1] - width))
    top = int(np.clip(y0 - 0.55 * height, 0, image.shape[0] - height))
    return image[top : top + int(height), left : left + int(width)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default="docs/images/stickers", help="folder (default: docs/images/stickers)"
    )
    args = parser.parse_args(argv)
    import skimage.data

    import kssd_zoo
    from kssd.data.images import read_image
    from kssd_zoo.sticker.make_assets import DEMO_PHOTO

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    crowd = read_image(DEMO_PHOTO)
    result, faces = kssd_zoo.sticker(crowd, sticker="crown")
    size = (CROWD_WIDTH, round(CROWD_WIDTH * crowd.shape[0] / crowd.shape[1]))
    _write(out / "crowd_before.jpg", crowd, size)
    _write(out / "crowd_crown.jpg", result, size)
    widths = sorted(round(f["box"][2] - f["box"][0]) for f in faces)
    print(f"demo photo: {len(faces)} faces, widths {widths} px")
    astronaut = skimage.data.astronaut()
    for name in ("crown", "sunglasses", "cat_whiskers", "party_hat"):
        result, faces = kssd_zoo.sticker(astronaut, sticker=name)
        largest = max(faces, key=lambda f: f["box"][2] - f["box"][0])
        _write(out / f"astronaut_{name}.jpg", _crop_around(result, largest["box"], CROP_SIZE), CROP_SIZE)
    print(f"wrote 6 pictures to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

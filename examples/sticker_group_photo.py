"""Stickers on every face of a group photo, with a before/after picture.

Usage:
    python examples/sticker_group_photo.py [PHOTO] [--weights FILE_OR_PRESET] [--sticker crown] [--out sticker_out]

Without PHOTO the demo photo shipped with the package is used (a public-domain NASA portrait at
six sizes). Without --weights the default face detector's weights, shipped with the package, are
used: it runs offline.
"""

import argparse
import json
from pathlib import Path

import cv2
import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", nargs="?", default=None, help="photo (default: the shipped demo photo)")
    parser.add_argument(
        "--weights", default=None, help="UltraFace-RFB weights file or preset (default: the shipped ones)"
    )
    parser.add_argument("--sticker", default="crown", help="built-in sticker or RGBA PNG (default: crown)")
    parser.add_argument("--out", default="sticker_out", help="output folder (default: sticker_out)")
    parser.add_argument("--long-side", type=int, default=None, help="detection resolution (default: native)")
    args = parser.parse_args(argv)

    import kssd_zoo
    from kssd.data.images import read_image

    if args.photo is None:
        from kssd_zoo.sticker.make_assets import DEMO_PHOTO

        image, name = read_image(DEMO_PHOTO), DEMO_PHOTO.stem
    else:
        image, name = read_image(args.photo), Path(args.photo).stem

    result, faces = kssd_zoo.sticker(
        image, sticker=args.sticker, weights=args.weights, long_side=args.long_side
    )

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    side_by_side = np.concatenate([image, np.full((image.shape[0], 8, 3), 255, np.uint8), result], axis=1)
    picture = out / f"{name}_{args.sticker if '.' not in args.sticker else 'sticker'}.jpg"
    cv2.imwrite(str(picture), cv2.cvtColor(side_by_side, cv2.COLOR_RGB2BGR))
    (out / f"{name}_faces.json").write_text(json.dumps(faces, indent=2))
    with_landmarks = sum(f["landmarks"] is not None for f in faces)
    print(f"{len(faces)} faces ({with_landmarks} placed with landmarks); before/after: {picture}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

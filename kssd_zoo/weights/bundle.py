"""Weights shipped inside the package: converted once from a preset's upstream file, loaded offline.

A preset with a ``bundled`` entry (a file name in ``kssd_zoo/weights/bundled/``) loads from that
file: no download, no ``onnx`` package. The file is made at release time from the upstream file
(checked against the preset's sha256) with::

    python -m kssd_zoo.weights.bundle ultraface_rfb_320 --source version-RFB-320.onnx

which builds the preset's model, converts the weights with the preset's converter and writes
Keras ``.weights.h5`` (atomically). The licence notices of bundled weights are in
``kssd_zoo/weights/bundled/NOTICE.md``.

Examples:
    >>> from kssd_zoo.weights.bundle import bundled_path
    >>> bundled_path("ultraface_rfb_320").name
    'ultraface_rfb_320.weights.h5'
"""

import argparse
import sys
from pathlib import Path

from kssd_zoo.weights.download import sha256_of
from kssd_zoo.weights.presets import get_preset

#: Folder of the weight files shipped with the package.
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"


def bundled_path(name):
    """Where preset ``name``'s shipped weights live, or None when it ships none."""
    fname = get_preset(name).get("bundled")
    return None if fname is None else BUNDLED_DIR / fname


def bundle_preset(name, source, out=None):
    """Convert preset ``name``'s upstream file ``source`` into the Keras weights file to ship.

    Args:
        name: a preset with a ``bundled`` file name.
        source: the upstream file (its sha256 must be the preset's).
        out: output path, default None (the preset's place in :data:`BUNDLED_DIR`).

    Returns:
        The written path.

    Raises:
        ValueError: the preset ships nothing, or ``source`` is not the upstream file.
    """
    import kssd_zoo
    from kssd.files import write_atomically
    from kssd_zoo.weights.loading import load_weights_file

    preset = get_preset(name)
    target = Path(out) if out is not None else bundled_path(name)
    if target is None:
        raise ValueError(f"preset {name!r} has no 'bundled' file name")
    digest = sha256_of(source)
    if digest != preset["sha256"]:
        raise ValueError(f"{source}: sha256 {digest} is not preset {name!r}'s {preset['sha256']}")
    model = kssd_zoo.build(preset["model"], compile=False, **preset["build_overrides"])
    load_weights_file(model, source, file_format=preset["format"])
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, lambda temp: model.save_weights(str(temp)))
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(description="Convert a preset's upstream weights into the file to ship.")
    parser.add_argument("preset", help="preset name, e.g. ultraface_rfb_320")
    parser.add_argument("--source", required=True, help="the preset's upstream file (checked by sha256)")
    parser.add_argument("--out", default=None, help="output path (default: kssd_zoo/weights/bundled/)")
    args = parser.parse_args(argv)
    path = bundle_preset(args.preset, args.source, args.out)
    print(f"{path} ({path.stat().st_size:,} bytes, sha256 {sha256_of(path)})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Reader for WIDER FACE ground truth in the official text format.

Layout under the dataset root (as distributed)::

    wider_face_split/wider_face_train_bbx_gt.txt
    wider_face_split/wider_face_val_bbx_gt.txt
    WIDER_train/images/0--Parade/0_Parade_marchingband_1_849.jpg
    WIDER_val/images/...

Each image in the text file is a path line, a line with the face count, then one line
per face: ``x y w h blur expression illumination invalid occlusion pose`` (pixels and
integer flags). An image with no faces still carries one line of zeros, which is not a
box. Boxes with zero width or height are dropped and counted.
"""

from pathlib import Path

import numpy as np

from kssd.data.images import IMAGE_SUFFIXES
from kssd.data.records import DatasetStats, ParsedReader, make_record

ATTRIBUTES = ("blur", "expression", "illumination", "invalid", "occlusion", "pose")


class WiderFaceReader(ParsedReader):
    """Read WIDER FACE annotations (one record per image, class 1 = ``"face"``).

    Args:
        root: dataset root holding ``wider_face_split/`` and ``WIDER_<split>/images``.
        split: ``"train"`` or ``"val"``, default ``"train"``.
        annotation_file: path of the ``*_bbx_gt.txt`` file, default None
            (``<root>/wider_face_split/wider_face_<split>_bbx_gt.txt``).
        image_dir: directory the image paths are relative to, default None
            (``<root>/WIDER_<split>/images``).
        drop_invalid: drop faces flagged ``invalid`` (counted), default False (kept,
            with the flag in ``attributes["invalid"]``).

    Attributes:
        class_names: ``["face"]``.
        stats: :class:`kssd.data.records.DatasetStats` of the parsed file.

    Raises:
        FileNotFoundError: the annotation file is missing.
        ValueError: a malformed line (the message names the file and line number).

    Examples:
        >>> from kssd.data import WiderFaceReader
        >>> reader = WiderFaceReader("widerface", split="train")  # doctest: +SKIP
        >>> record = next(iter(reader))  # doctest: +SKIP
        >>> record["boxes"].shape, reader.class_names  # doctest: +SKIP
        ((2, 4), ['face'])
    """

    format_name = "widerface"
    class_names = ["face"]

    def __init__(self, root, split="train", *, annotation_file=None, image_dir=None, drop_invalid=False):
        self.root = Path(root)
        self.split = split
        self.annotation_file = Path(
            annotation_file
            if annotation_file is not None
            else self.root / "wider_face_split" / f"wider_face_{split}_bbx_gt.txt"
        )
        self.image_dir = Path(image_dir if image_dir is not None else self.root / f"WIDER_{split}" / "images")
        self.drop_invalid = bool(drop_invalid)
        if not self.annotation_file.is_file():
            raise FileNotFoundError(
                f"WIDER FACE annotation file not found: {self.annotation_file} "
                f"(expected <root>/wider_face_split/wider_face_{split}_bbx_gt.txt)"
            )
        self.stats = DatasetStats()
        self._records = self._parse()

    @staticmethod
    def available_splits(root):
        """Splits with a ground-truth file under ``root`` (subset of train, val).

        Examples:
            >>> from kssd.data import WiderFaceReader
            >>> WiderFaceReader.available_splits("/nonexistent")
            []
        """
        folder = Path(root) / "wider_face_split"
        return [s for s in ("train", "val") if (folder / f"wider_face_{s}_bbx_gt.txt").is_file()]

    def _error(self, line_number, message):
        return ValueError(f"{self.annotation_file}:{line_number}: {message}")

    def _parse(self):
        lines = self.annotation_file.read_text(encoding="utf-8").splitlines()
        records = []
        i = 0
        total = len(lines)
        while i < total:
            path = lines[i].strip()
            if not path:
                i += 1
                continue
            if not path.lower().endswith(IMAGE_SUFFIXES):
                raise self._error(i + 1, f"expected an image path line, got {path!r}")
            if i + 1 >= total:
                raise self._error(i + 2, f"missing face count after image path {path!r}")
            count_text = lines[i + 1].strip()
            try:
                count = int(count_text)
            except ValueError:
                raise self._error(
                    i + 2, f"expected the face count (an integer), got {count_text!r}"
                ) from None
            if count < 0:
                raise self._error(i + 2, f"face count must be >= 0, got {count}")
            rows = max(count, 1)  # an image without faces still has one line of zeros
            if count == 0 and (i + 2 >= total or lines[i + 2].strip().lower().endswith(IMAGE_SUFFIXES)):
                rows = 0  # some copies of the file leave that line out
            values = []
            for k in range(rows):
                line_number = i + 3 + k
                if line_number > total:
                    raise self._error(line_number, f"file ends inside the {count} face lines of {path!r}")
                fields = lines[line_number - 1].split()
                if len(fields) not in (4, 10):
                    raise self._error(
                        line_number,
                        "expected 'x y w h blur expression illumination invalid occlusion "
                        f"pose' (10 numbers), got {len(fields)} fields: "
                        f"{lines[line_number - 1].strip()!r}",
                    )
                try:
                    numbers = [float(v) for v in fields]
                except ValueError:
                    raise self._error(
                        line_number, f"non-numeric value in {lines[line_number - 1].strip()!r}"
                    ) from None
                values.append(numbers + [0.0] * (10 - len(numbers)))
            i += 2 + rows
            records.append(self._make(path, count, np.asarray(values, np.float32).reshape(-1, 10)))
        return records

    def _make(self, path, count, values):
        if count == 0:
            values = values[:0]
        x, y, w, h = values[:, 0], values[:, 1], values[:, 2], values[:, 3]
        boxes = np.stack([x, y, x + w, y + h], axis=-1).reshape(-1, 4)
        attributes = {name: values[:, 4 + j].astype(np.int32) for j, name in enumerate(ATTRIBUTES)}
        keep = (w > 0) & (h > 0)
        self.stats.drop_boxes("zero width or height", int(np.sum(~keep)), path)
        if self.drop_invalid:
            invalid = keep & (attributes["invalid"] != 0)
            self.stats.drop_boxes("flagged invalid", int(np.sum(invalid)), path)
            keep &= ~invalid
        record = make_record(
            path,
            boxes[keep],
            np.ones(int(np.sum(keep)), np.int32),
            image_path=self.image_dir / path,
            attributes={k: v[keep] for k, v in attributes.items()},
        )
        self.stats.add_record(record)
        return record

    def __repr__(self):
        return (
            f"WiderFaceReader(root={str(self.root)!r}, split={self.split!r}, "
            f"images={len(self)}, boxes={self.stats.boxes})"
        )

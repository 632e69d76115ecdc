"""Reload an exported artifact, run it, and compare it with the Keras inference model."""

import numpy as np

from kssd.boxes.iou import iou_numpy
from kssd.inference.inference_model import DETECTION_KEYS


class ExportVerificationError(RuntimeError):
    """An exported artifact whose detections differ from the Keras inference model's."""


def sample_images(seed=0):
    """Deterministic verification images: two 300x400 and one 170x130 uint8 RGB pictures
    (smooth colour gradients with bright discs and squares), so letterbox padding on both
    axes and a batch of two are exercised.

    Examples:
        >>> from kssd.export.verify import sample_images
        >>> [im.shape for im in sample_images()]
        [(300, 400, 3), (300, 400, 3), (170, 130, 3)]
    """
    rng = np.random.default_rng(seed)
    images = []
    for h, w in ((300, 400), (300, 400), (170, 130)):
        yy, xx = np.mgrid[0:h, 0:w].astype("float32")
        image = np.stack([xx / w * 200, yy / h * 200, (xx + yy) / (h + w) * 120 + 60], -1)
        for _ in range(6):
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            r = rng.uniform(8, min(h, w) / 4)
            colour = rng.uniform(0, 255, 3)
            if rng.random() < 0.5:
                mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
            else:
                mask = (np.abs(yy - cy) < r) & (np.abs(xx - cx) < r)
            image[mask] = colour
        images.append(np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8))
    return images


def load_runner(path, fmt, num_threads=None):
    """A callable ``run(images uint8 (B, H, W, 3)) -> dict of numpy`` for an exported artifact.

    Args:
        path: the artifact (SavedModel dir, ``.tflite``, ``.onnx`` or ``.keras``).
        fmt: ``"saved_model"``, ``"tflite"``, ``"onnx"`` or ``"keras"``.
        num_threads: TFLite interpreter threads, default None = every CPU core (see
            :func:`kssd.tflite_interpreter.open_interpreter`; LiteRT when installed). Other
            formats use all cores already.

    Returns:
        The callable.
    """
    path = str(path)
    if fmt == "saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(path)

        def run(images):
            out = loaded.serve(tf.constant(images, tf.uint8))
            return {k: np.asarray(out[k]) for k in DETECTION_KEYS}

        run.loaded = loaded
        return run
    if fmt == "tflite":
        from kssd.tflite_interpreter import open_interpreter

        interpreter = open_interpreter(path, num_threads=num_threads)
        runner = interpreter.get_signature_runner("serve")

        def run(images):
            out = runner(images=np.asarray(images, np.uint8))
            return {k: np.asarray(out[k]) for k in DETECTION_KEYS}

        run.interpreter = interpreter
        return run
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]

        def run(images):
            out = dict(zip(names, session.run(None, {"images": np.asarray(images, np.uint8)})))
            return {k: np.asarray(out[k]) for k in DETECTION_KEYS}

        run.session = session
        return run
    if fmt == "keras":
        import keras

        model = keras.saving.load_model(path)

        def run(images):
            out = model(np.asarray(images, np.uint8), training=False)
            return {k: keras.ops.convert_to_numpy(out[k]) for k in DETECTION_KEYS}

        run.model = model
        return run
    raise ValueError(f"unknown format {fmt!r}")


def tflite_ops(path):
    """Names of the operators in a ``.tflite`` file (Flex ops start with ``Flex``; custom
    ops are reported as ``CUSTOM``/``DELEGATE``)."""
    import tensorflow as tf

    from kssd.compat import tflite_ops_details

    interpreter = tf.lite.Interpreter(model_path=str(path))
    return sorted({op["op_name"] for op in tflite_ops_details(interpreter)})


def compare_detections(reference, candidate, box_tolerance=0.5, score_tolerance=1e-4, score_threshold=None):
    """Match two detection dicts image by image, tolerating the order of tied scores.

    For every image, each reference detection is matched to an unused candidate of the
    same class whose score is within ``score_tolerance`` and whose corners are within
    ``box_tolerance`` pixels. Unmatched detections are excused only when they are
    borderline: score within ``score_tolerance`` of ``score_threshold`` or of the lowest
    kept score when the output is full (where the cut among ties is arbitrary).

    Args:
        reference, candidate: detection dicts of numpy arrays (batched).
        box_tolerance: max corner difference in pixels, default 0.5.
        score_tolerance: max score difference, default 1e-4.
        score_threshold: the NMS score threshold, default None.

    Returns:
        Dict: ``ok`` (bool), ``matched``, ``unmatched`` (not excused), ``excused``,
        ``max_box_diff``, ``max_score_diff`` (over matched pairs), ``problems`` (list of str).

    Examples:
        >>> import numpy as np
        >>> from kssd.export.verify import compare_detections
        >>> d = {"boxes": np.array([[[1., 2., 3., 4.]]]), "scores": np.array([[.9]]),
        ...      "classes": np.array([[1]]), "num_detections": np.array([1])}
        >>> compare_detections(d, d)["ok"]
        True
    """
    report = {
        "matched": 0,
        "unmatched": 0,
        "excused": 0,
        "max_box_diff": 0.0,
        "max_score_diff": 0.0,
        "problems": [],
    }
    k_max = reference["scores"].shape[1]
    for b in range(reference["scores"].shape[0]):
        sides = []
        for det in (reference, candidate):
            n = int(det["num_detections"][b])
            sides.append(
                (
                    np.asarray(det["boxes"][b, :n], "float64"),
                    np.asarray(det["scores"][b, :n], "float64"),
                    np.asarray(det["classes"][b, :n]).astype(int),
                    n,
                )
            )
        (rb, rs, rc, rn), (cb, cs, cc, cn) = sides
        used = np.zeros(cn, bool)
        unmatched_ref = []
        for i in range(rn):
            ok = (~used) & (cc == rc[i]) & (np.abs(cs - rs[i]) <= score_tolerance)
            if cn:
                ok &= np.abs(cb - rb[i]).max(axis=1) <= box_tolerance
            hits = np.flatnonzero(ok)
            if hits.size:
                j = hits[np.argmin(np.abs(cs[hits] - rs[i]))]
                used[j] = True
                report["matched"] += 1
                report["max_box_diff"] = max(report["max_box_diff"], float(np.abs(cb[j] - rb[i]).max()))
                report["max_score_diff"] = max(report["max_score_diff"], float(abs(cs[j] - rs[i])))
            else:
                unmatched_ref.append(i)
        leftovers = [("reference", rs[i], rb[i], rn) for i in unmatched_ref]
        leftovers += [("export", cs[j], cb[j], cn) for j in np.flatnonzero(~used)]
        for side, score, box, n in leftovers:
            floor = min(rs.min() if rn else np.inf, cs.min() if cn else np.inf)
            borderline = (
                score_threshold is not None and abs(score - score_threshold) <= score_tolerance
            ) or (n == k_max and abs(score - floor) <= score_tolerance)
            if borderline:
                report["excused"] += 1
            else:
                report["unmatched"] += 1
                if len(report["problems"]) < 5:
                    report["problems"].append(
                        f"image {b}: {side} detection score {score:.6f} box {np.round(box, 2).tolist()} has no "
                        f"counterpart (reference {rn} detections, export {cn})"
                    )
    report["ok"] = report["unmatched"] == 0
    return report


def drift(reference, candidate, iou_threshold=0.5):
    """How far a (quantized) export drifts from the reference: IoU matching per class.

    Returns:
        Dict: ``reference_detections``, ``export_detections``, ``matched`` (IoU >=
        ``iou_threshold``, same class), ``mean_box_diff``/``max_box_diff`` (pixels) and
        ``mean_score_diff``/``max_score_diff`` over matched pairs.

    Examples:
        >>> import numpy as np
        >>> from kssd.export.verify import drift
        >>> d = {"boxes": np.array([[[1., 2., 3., 4.]]]), "scores": np.array([[.9]]),
        ...      "classes": np.array([[1]]), "num_detections": np.array([1])}
        >>> drift(d, d)["matched"]
        1
    """
    box_diffs, score_diffs = [], []
    n_ref = n_exp = 0
    for b in range(reference["scores"].shape[0]):
        rn, cn = int(reference["num_detections"][b]), int(candidate["num_detections"][b])
        n_ref, n_exp = n_ref + rn, n_exp + cn
        used = set()
        overlaps = iou_numpy(reference["boxes"][b, :rn], candidate["boxes"][b, :cn])
        for i in range(rn):
            best, best_iou = None, iou_threshold
            for j in range(cn):
                if j in used or int(candidate["classes"][b, j]) != int(reference["classes"][b, i]):
                    continue
                v = overlaps[i, j]
                if v >= best_iou:
                    best, best_iou = j, v
            if best is not None:
                used.add(best)
                box_diffs.append(float(np.abs(reference["boxes"][b, i] - candidate["boxes"][b, best]).max()))
                score_diffs.append(float(abs(reference["scores"][b, i] - candidate["scores"][b, best])))
    return {
        "reference_detections": n_ref,
        "export_detections": n_exp,
        "matched": len(box_diffs),
        "mean_box_diff": float(np.mean(box_diffs)) if box_diffs else None,
        "max_box_diff": float(np.max(box_diffs)) if box_diffs else None,
        "mean_score_diff": float(np.mean(score_diffs)) if score_diffs else None,
        "max_score_diff": float(np.max(score_diffs)) if score_diffs else None,
    }

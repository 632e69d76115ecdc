"""Export detectors with preprocessing, decode and NMS built in, verified after writing.

:func:`export` writes one of ``saved_model``, ``tflite``, ``onnx``, ``onnx_opencv`` (for
OpenCV's DNN module, NMS left to the client) or ``keras``, reloads
the artifact, runs it on sample images and compares it with the Keras inference model
(boxes within 0.5 px, scores within 1e-4); a mismatch raises
:class:`ExportVerificationError`. See ``docs/guides/deployment.md``.

Each format is an entry of :data:`EXPORT_FORMATS`; a new one is one module with its writer plus
one ``EXPORT_FORMATS.register(name, writer, suffix=..., load_runner=...)`` call (see
:func:`register_export_format`); :func:`export` and ``kssd export --format`` need no edit.

Examples:
    >>> from kssd.export import EXPORT_FORMATS, FORMATS
    >>> FORMATS
    ('saved_model', 'tflite', 'onnx', 'onnx_opencv', 'keras')
    >>> EXPORT_FORMATS.metadata("onnx")["suffix"]
    '.onnx'
"""

import os
import time
import warnings

import numpy as np

from kssd.export.verify import ExportVerificationError, compare_detections, drift, load_runner, sample_images
from kssd.files import commit, file_system_error, remove_path, temporary_path
from kssd.registry import Registry


class ExportError(RuntimeError):
    """A model that cannot be written in the requested format; the message names the layer."""


#: Export formats by name: ``writer(inference_model, path, **options)``, with metadata
#: ``suffix`` (required file ending, None for a directory), ``options`` (names of the
#: :func:`export` keyword arguments the writer takes, e.g. ``quantization``), ``load_runner``
#: (``fn(path) -> run(images) -> dict``, default :func:`kssd.export.verify.load_runner`) and
#: ``check`` (``fn(path, infer) -> dict`` of report entries, run after writing; raises
#: :class:`ExportError` for an unusable artifact), plus ``description``.
EXPORT_FORMATS = Registry("export format")


def register_export_format(
    name, writer=None, *, suffix=None, options=(), load_runner=None, check=None, description=""
):
    """Register an export format (see :data:`EXPORT_FORMATS`); usable as a decorator.

    Args:
        name: the format name (``export(model, name, path)``, ``kssd export --format name``).
        writer: ``writer(inference_model, path, **options)``, default None (decorator).
        suffix: the file ending the output path needs, default None (any, e.g. a directory).
        options: :func:`export` keyword arguments passed on to ``writer``, default none.
        load_runner: ``fn(path) -> run(uint8 images) -> dict of numpy`` for verification,
            default None (:func:`kssd.export.verify.load_runner` with the format name).
        check: ``fn(path, inference_model) -> dict`` of extra report entries, default None.
        description: one line for docs and help, default "".

    Returns:
        ``writer``, or the decorator.

    Examples:
        >>> from kssd.export import EXPORT_FORMATS, register_export_format
        >>> @register_export_format("doc_null", suffix=".null", description="writes nothing")
        ... def write_null(inference_model, path):
        ...     open(path, "wb").close()
        >>> EXPORT_FORMATS.metadata("doc_null")["suffix"]
        '.null'
        >>> EXPORT_FORMATS.unregister("doc_null")
    """
    return EXPORT_FORMATS.register(
        name,
        writer,
        suffix=suffix,
        options=tuple(options),
        load_runner=load_runner,
        check=check,
        description=description,
    )


def _write_saved_model(infer, path):
    from kssd.export.saved_model import export_saved_model

    export_saved_model(infer, path)


def _write_tflite(infer, path, quantization=None, representative_images=None):
    from kssd.export.tflite import export_tflite

    export_tflite(infer, path, quantization=quantization, representative_images=representative_images)


def _check_tflite(path, infer):
    from kssd.export.verify import tflite_ops

    ops = tflite_ops(path)
    foreign = [op for op in ops if op.startswith("Flex") or op in ("CUSTOM", "DELEGATE")]
    if foreign:
        raise ExportError(f"the TFLite model needs non-built-in ops {foreign}; it was not written")
    return {"ops": ops}


def _write_onnx(infer, path):
    from kssd.export.onnx import export_onnx

    export_onnx(infer, path)


def _write_onnx_opencv(infer, path):
    from kssd.export.opencv import export_onnx_opencv

    export_onnx_opencv(infer, path)


def _opencv_runner(path):
    from kssd.export.opencv import load_opencv_runner

    return load_opencv_runner(path)


def _write_keras(infer, path):
    from kssd.export.keras_file import export_keras

    export_keras(infer, path)


register_export_format(
    "saved_model", _write_saved_model, description="TensorFlow SavedModel directory with a serve endpoint"
)
register_export_format(
    "tflite",
    _write_tflite,
    suffix=".tflite",
    options=("quantization", "representative_images"),
    check=_check_tflite,
    description="TFLite flat buffer, built-in ops only; optional float16/int8 quantization",
)
register_export_format("onnx", _write_onnx, suffix=".onnx", description="ONNX graph with NonMaxSuppression")
register_export_format(
    "onnx_opencv",
    _write_onnx_opencv,
    suffix=".onnx",
    load_runner=_opencv_runner,
    description="ONNX graph for OpenCV's DNN module: decoded candidates, NMS left to cv2.dnn.NMSBoxesBatched",
)
register_export_format(
    "keras", _write_keras, suffix=".keras", description="the inference model as a .keras file"
)

#: Names of the export formats, in registration order (``EXPORT_FORMATS`` is the live table).
FORMATS = tuple(EXPORT_FORMATS)


def _run_grouped(run, images):
    """Run ``run`` on images grouped by size; return a list of per-group (batch, output)."""
    groups = {}
    for image in images:
        groups.setdefault(image.shape, []).append(image)
    return [(np.stack(group), run(np.stack(group))) for group in groups.values()]


#: What a SavedModel folder written by kssd holds; another folder is never replaced.
SAVED_MODEL_ENTRIES = {"saved_model.pb", "fingerprint.pb", "variables", "assets", "keras_metadata.pb"}


def _check_replaceable(path, format):
    """Refuse to replace a folder that is not an export (it may hold the user's files)."""
    if not os.path.isdir(path):
        return
    entries = set(os.listdir(path))
    if format != "saved_model" or "saved_model.pb" not in entries or entries - SAVED_MODEL_ENTRIES:
        others = sorted(entries - SAVED_MODEL_ENTRIES)[:5]
        raise FileExistsError(
            f"{path} is a folder kssd did not write (it holds {', '.join(others) or 'no SavedModel'}); "
            "it is not replaced: choose another output path"
        )


def export(
    model,
    format,
    path,
    *,
    overwrite=False,
    input_size="auto",
    resize="letterbox",
    score_threshold=None,
    iou_threshold=None,
    max_detections=None,
    quantization=None,
    representative_images=None,
    verify=True,
    verify_images=None,
    box_tolerance=0.5,
    score_tolerance=1e-4,
    **kwargs,
):
    """Export a detector end to end (uint8 images in, detections in pixels out) and verify it.

    Formats:

    * ``saved_model``: a directory with a ``serve`` endpoint, input ``images`` uint8
      ``(B, H, W, 3)`` (any size), output dict ``boxes`` (B, K, 4) xyxy pixels, ``scores``
      (B, K), ``classes`` (B, K) int32, ``num_detections`` (B,).
    * ``tflite``: same ``serve`` signature, TFLite built-in ops only (checked);
      ``quantization="float16"``, ``"int8"`` (int8 network calibrated on
      ``representative_images``; decode and NMS float) or ``"dynamic_int8"`` (int8 weights only).
    * ``onnx``: input ``images``, outputs ``boxes``/``scores``/``classes``/``num_detections``;
      NMS is ONNX's ``NonMaxSuppression`` op.
    * ``keras``: the inference model as a ``.keras`` file.

    After writing, the artifact is reloaded and run on ``verify_images`` (default
    :func:`kssd.export.verify.sample_images`); float32 artifacts must match the Keras
    inference model (boxes within ``box_tolerance`` px, scores within ``score_tolerance``,
    same classes) or :class:`ExportVerificationError` is raised and the artifact deleted.
    Quantized TFLite files are only measured: their drift is returned, not judged.

    Args:
        model: a :class:`kssd.models.SSDDetector` (kssd_zoo's ``Detector`` is one), a
            ``keras.Model`` returning y_pred (pass ``anchors=``), or an inference model from
            :func:`kssd.inference.build_inference_model`.
        format: one of :data:`FORMATS`.
        path: output path (a directory for ``saved_model``; ``.tflite``/``.onnx``/``.keras``
            files otherwise).
        overwrite: replace an existing ``path``, default False (then an existing path raises
            ``FileExistsError``).
        input_size: ``"auto"`` (default: each image's own size for fully convolutional models
            with pixel-sized anchors, such as the face detectors, else the trained size; see
            :func:`kssd.inference.passes.export_input_size`), or as in
            :func:`kssd.inference.build_inference_model`; ignored for an inference model.
        resize, score_threshold, iou_threshold, max_detections: as in
            :func:`kssd.inference.build_inference_model` (ignored for an inference model).
        quantization: TFLite only: one of :data:`kssd.export.tflite.QUANTIZATIONS` (None,
            ``"float16"``, ``"int8"``, ``"dynamic_int8"``), default None.
        representative_images: uint8 images for int8 calibration, default None (the
            verification images).
        verify: reload and compare, default True.
        verify_images: uint8 RGB images of any sizes, default None (sample images).
        box_tolerance: default 0.5 (pixels).
        score_tolerance: default 1e-4.
        **kwargs: more :func:`build_inference_model` arguments (``anchors``, ``pad_value``...).

    Returns:
        Dict report: ``path``, ``format``, ``quantization``, ``seconds``, ``input_size`` (one
            line: the size the graph runs at and the policy that chose it), ``verification``
        (see :func:`kssd.export.verify.compare_detections`) or ``drift`` (quantized), and
        ``ops`` (TFLite operator names).

    Raises:
        ValueError: unknown format/quantization or a bad path suffix.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        ExportError: the converter cannot express a layer (the message names it).
        ExportVerificationError: the reloaded artifact disagrees with Keras.

    Examples:
        >>> import os, tempfile
        >>> from kssd.export import export
        >>> from kssd.testing import toy_detector
        >>> path = os.path.join(tempfile.mkdtemp(), "toy_ssd.keras")
        >>> report = export(toy_detector(), "keras", path)
        >>> report["verification"]["ok"]
        True
    """
    from kssd.inference import build_inference_model, is_inference_model
    from kssd.inference.passes import export_input_size

    writer = EXPORT_FORMATS.get(format)  # UnknownNameError (a ValueError) for unknown formats
    facts = EXPORT_FORMATS.metadata(format)
    if quantization is not None and "quantization" not in facts["options"]:
        takes = [n for n in EXPORT_FORMATS if "quantization" in EXPORT_FORMATS.metadata(n)["options"]]
        raise ValueError(
            f"`quantization` is an option of {', '.join(takes)}; format {format!r} got "
            f"quantization={quantization!r}"
        )
    path = os.fspath(path)
    suffix = facts["suffix"]
    if suffix and not path.endswith(suffix):
        raise ValueError(f"the output path for format {format!r} must end in {suffix}, got {path}")
    if os.path.exists(path):
        if not overwrite:
            raise FileExistsError(
                f"{path} already exists; pass overwrite=True (CLI: --overwrite) to replace it"
            )
        _check_replaceable(path, format)
    size_policy = "as built (an inference model)"
    if is_inference_model(model):
        infer = model
    else:
        size = export_input_size(model, input_size)
        size_policy = _describe_export_size(model, size, input_size, resize)
        infer = build_inference_model(
            model,
            input_size=size,
            resize=resize,
            score_threshold=score_threshold,
            iou_threshold=iou_threshold,
            max_detections=max_detections,
            **kwargs,
        )
    images = [np.asarray(im, np.uint8) for im in (verify_images or sample_images())]
    if quantization == "int8" and not representative_images:
        representative_images = images
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    # Written under a temporary name, checked and verified there, and only then renamed over
    # ``path``: a failed or killed export leaves the previous artifact as it was.
    temp = os.fspath(temporary_path(path))
    try:
        report = _write_and_verify(
            infer,
            format,
            facts,
            writer,
            temp,
            images,
            quantization,
            representative_images,
            verify,
            box_tolerance,
            score_tolerance,
        )
        commit(temp, path)
    except Exception as error:  # a full disk, a read-only folder: name the artifact, not the temporary
        refusal = file_system_error(error)
        if refusal is None:
            raise
        reason = os.strerror(refusal.errno)
        raise OSError(
            refusal.errno, f"{path}: could not be written ({reason}); any previous file is kept"
        ) from error
    finally:
        remove_path(temp)
    report["path"] = path
    report["input_size"] = size_policy
    return report


def _describe_export_size(model, size, requested, resize):
    if size is None:
        text = "native (each image's own size, padded to the largest stride)"
    else:
        h, w = model.input_size if size == "spec" else size
        text = f"{h}x{w} ({resize})"
    name = requested if isinstance(requested, str) else "native" if requested is None else "fixed"
    return f"{text}, policy {name}"


def _write_and_verify(
    infer,
    format,
    facts,
    writer,
    path,
    images,
    quantization,
    representative_images,
    verify,
    box_tolerance,
    score_tolerance,
):
    """Write the artifact at ``path`` (a temporary), check it and compare it with ``infer``."""
    start = time.perf_counter()
    available = {"quantization": quantization, "representative_images": representative_images}
    try:
        writer(infer, path, **{name: available[name] for name in facts["options"]})
    except (ValueError, ImportError):
        raise
    except Exception as error:  # converters raise many kinds of errors
        if file_system_error(error) is not None:
            raise  # the file system's refusal (a full disk), not the converter's
        from kssd.export.failures import describe_failure

        raise ExportError(describe_failure(error, infer, format)) from error
    report = {
        "path": path,
        "format": format,
        "quantization": quantization,
        "seconds": round(time.perf_counter() - start, 2),
    }
    if facts["check"] is not None:
        report.update(facts["check"](path, infer) or {})
    if not verify:
        return report
    run = facts["load_runner"](path) if facts["load_runner"] is not None else load_runner(path, format)
    pairs = []
    for batch, got in _run_grouped(run, images):
        ref = {k: np.asarray(v) for k, v in infer(batch, training=False).items()}
        pairs.append((ref, got))
    nms = next(layer for layer in infer.layers if type(layer).__name__ == "NonMaxSuppression")
    if quantization is None:
        totals = {
            "ok": True,
            "matched": 0,
            "unmatched": 0,
            "excused": 0,
            "max_box_diff": 0.0,
            "max_score_diff": 0.0,
            "problems": [],
        }
        for ref, got in pairs:
            result = compare_detections(ref, got, box_tolerance, score_tolerance, float(nms.score_threshold))
            for key in ("matched", "unmatched", "excused"):
                totals[key] += result[key]
            totals["max_box_diff"] = max(totals["max_box_diff"], result["max_box_diff"])
            totals["max_score_diff"] = max(totals["max_score_diff"], result["max_score_diff"])
            totals["problems"] += result["problems"]
            totals["ok"] = totals["ok"] and result["ok"]
        report["verification"] = totals
        if totals["ok"] and totals["matched"] + totals["unmatched"] == 0:
            totals["nothing_compared"] = True
            warnings.warn(
                f"export verification compared nothing: the Keras model finds no detection above "
                f"{float(nms.score_threshold)} on the {len(images)} verification image(s), so the "
                f"{format} artifact's detections were not checked. Verify on real photos with "
                "objects the model detects (verify_images=, CLI: --verify-images)",
                UserWarning,
                stacklevel=3,
            )
        if not totals["ok"]:
            raise ExportVerificationError(
                f"the exported {format} model disagrees with the Keras inference model "
                f"({totals['unmatched']} unmatched detections beyond {box_tolerance} px / {score_tolerance} score; "
                f"{totals['matched']} matched); it was not written (any previous file is kept). First problems: "
                + "; ".join(totals["problems"])
            )
    else:
        merged = [drift(ref, got) for ref, got in pairs]
        summary = {
            k: sum(m[k] for m in merged) for k in ("reference_detections", "export_detections", "matched")
        }
        for stat in ("max_box_diff", "max_score_diff"):
            vals = [m[stat] for m in merged if m[stat] is not None]
            summary[stat] = max(vals) if vals else None
        for stat in ("mean_box_diff", "mean_score_diff"):
            vals = [m[stat] for m in merged if m[stat] is not None]
            summary[stat] = float(np.mean(vals)) if vals else None
        report["drift"] = summary
    return report


__all__ = [
    "EXPORT_FORMATS",
    "FORMATS",
    "ExportError",
    "ExportVerificationError",
    "compare_detections",
    "drift",
    "export",
    "load_runner",
    "register_export_format",
    "sample_images",
]

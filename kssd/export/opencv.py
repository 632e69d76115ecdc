"""ONNX for OpenCV's DNN module: the end-to-end graph up to the decoded candidates, NMS left to OpenCV.

``cv2.dnn.readNetFromONNX`` (OpenCV 5.0) runs every part of kssd's inference graph (resize and
pad, the network, the anchors, the box decoding, the mapping back to input pixels) but kills the
process (SIGSEGV) on ONNX's ``NonMaxSuppression`` op, with or without detections (measured by
exporting each stage on its own; ``tests/export/test_opencv_dnn.py``). This format therefore
stops before NMS:

* input ``images``: uint8 ``(1, H, W, 3)`` RGB, any size, **one image per call**: OpenCV 5.0
  runs a graph with a free batch dimension at batch 2 with wrong boxes (up to 11 px off) and
  stays wrong for later single images (measured), so the batch is fixed to 1;
* output ``boxes``: ``(1, A, 4)`` xyxy in the input image's pixels, one per anchor;
* output ``scores``: ``(1, A, C)`` class probabilities, column ``c`` is class ``c + 1``
  (background dropped).

Run NMS with ``cv2.dnn.NMSBoxesBatched`` (see the deployment guide). The NMS settings the
detector was exported with are stored in the file's metadata (``kssd.score_threshold``,
``kssd.iou_threshold``, ``kssd.max_detections``, ``kssd.max_detections_per_class``); kssd's verification applies them with kssd's own
:class:`kssd.layers.NonMaxSuppression`, so the artifact is compared with the Keras model
detection for detection.
"""

import json

import numpy as np

#: Output names of the candidates graph.
CANDIDATE_KEYS = ("boxes", "scores")


def candidates_model(inference_model):
    """The inference model cut before NMS: images -> ``{"boxes", "scores"}`` (see the module).

    Args:
        inference_model: a model from :func:`kssd.inference.build_inference_model`.

    Returns:
        A ``keras.Model`` sharing the inference model's layers and weights.

    Examples:
        >>> import numpy as np
        >>> from kssd.export.opencv import candidates_model
        >>> from kssd.inference import build_inference_model
        >>> from kssd.testing import toy_detector
        >>> out = candidates_model(build_inference_model(toy_detector()))(np.zeros((1, 48, 80, 3), "uint8"))
        >>> tuple(out["boxes"].shape), tuple(out["scores"].shape)
        ((1, 160, 4), (1, 160, 1))
    """
    import keras

    from kssd.inference.recover_boxes import RecoverBoxes

    layers = {layer.name: layer for layer in inference_model.layers}
    decoded = layers["decode_detections"].output  # {"boxes", "scores"}, kept as a list in that order
    decoded_boxes, decoded_scores = (
        (decoded["boxes"], decoded["scores"]) if isinstance(decoded, dict) else decoded
    )
    info = layers["resize_pad"].output[1]
    boxes = RecoverBoxes(name="recover_candidate_boxes")(decoded_boxes, info)
    scores = keras.layers.Lambda(lambda s: s[..., 1:], name="class_scores")(decoded_scores)
    return keras.Model(
        inference_model.input,
        {"boxes": boxes, "scores": scores},
        name=f"{inference_model.name}_candidates",
    )


def _nms_settings(inference_model):
    nms = next(layer for layer in inference_model.layers if type(layer).__name__ == "NonMaxSuppression")
    config = nms.get_config()
    keys = ("score_threshold", "iou_threshold", "max_detections", "max_detections_per_class")
    return {key: config.get(key) for key in keys}


def export_onnx_opencv(inference_model, path, opset=17):
    """Write the candidates graph of ``inference_model`` as ONNX that ``cv2.dnn`` runs.

    Args:
        inference_model: a model from :func:`kssd.inference.build_inference_model`.
        path: output ``.onnx`` file.
        opset: ONNX opset, default 17.

    Returns:
        ``path``.
    """
    import onnx

    from kssd.export.onnx import convert_to_onnx

    proto = convert_to_onnx(candidates_model(inference_model), CANDIDATE_KEYS, opset=opset, batch_size=1)
    for key, value in _nms_settings(inference_model).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = f"kssd.{key}", json.dumps(value)
    onnx.save(proto, str(path))
    return path


def read_nms_settings(path):
    """The NMS settings stored in an ``onnx_opencv`` file (dict; keys without ``kssd.``)."""
    import onnx

    props = onnx.load(str(path), load_external_data=False).metadata_props
    return {p.key[len("kssd.") :]: json.loads(p.value) for p in props if p.key.startswith("kssd.")}


def load_opencv_runner(path):
    """``run(uint8 images) -> detections dict``: ``cv2.dnn`` for the graph (image by image), then
    kssd's NMS.

    The detections have the keys and shapes of the end-to-end exports (``boxes``,
    ``scores``, ``classes``, ``num_detections``), so they compare one to one with Keras.
    """
    import cv2
    import keras

    from kssd.layers import NonMaxSuppression

    net = cv2.dnn.readNetFromONNX(str(path))
    settings = read_nms_settings(path)
    nms = NonMaxSuppression(
        **{k: settings[k] for k in ("score_threshold", "iou_threshold", "max_detections")},
        max_detections_per_class=settings.get("max_detections_per_class"),
    )
    names = list(net.getUnconnectedOutLayersNames())

    def run(images):
        boxes, scores = [], []
        for image in np.asarray(images, np.uint8):  # the graph takes one image per call
            net.setInput(np.ascontiguousarray(image[None]))
            found = dict(zip(names, net.forward(names)))
            boxes.append(found["boxes"][0])
            scores.append(found["scores"][0])
        boxes, scores = np.stack(boxes), np.stack(scores)
        background = np.zeros(scores.shape[:-1] + (1,), scores.dtype)
        out = nms(boxes, np.concatenate([background, scores], axis=-1))
        return {k: keras.ops.convert_to_numpy(v) for k, v in out.items()}

    run.net = net
    return run

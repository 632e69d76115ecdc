"""ONNX export with tf2onnx; NMS becomes ONNX's NonMaxSuppression op."""


def with_nms_implementation(inference_model, implementation):
    """A copy of an inference model whose NonMaxSuppression uses ``implementation``.

    Rebuilt from its config (all layers are registered) with the same weights.
    """
    config = inference_model.get_config()
    changed = False
    for layer in config["layers"]:
        if layer["class_name"] == "NonMaxSuppression" or layer["class_name"].endswith(">NonMaxSuppression"):
            if layer["config"].get("implementation") != implementation:
                layer["config"]["implementation"] = implementation
                changed = True
    if not changed:
        return inference_model
    clone = inference_model.__class__.from_config(config)
    clone.set_weights(inference_model.get_weights())
    return clone


def _rename_io(model_proto, renames):
    graph = model_proto.graph
    for value in list(graph.input) + list(graph.output):
        if value.name in renames:
            value.name = renames[value.name]
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]
        for i, name in enumerate(node.output):
            if name in renames:
                node.output[i] = renames[name]


def convert_to_onnx(model, output_keys, opset=17, batch_size=None):
    """The ONNX proto of ``model`` (uint8 ``images`` in, a dict out) with outputs ``output_keys``.

    ``batch_size`` fixes the batch dimension of the input (default None: any batch).

    The graph is frozen (captured constants and variables folded in, control flow kept
    functional) and converted with ``tf2onnx.convert.from_graph_def``; inputs and outputs get
    their plain names (``images``, ``boxes``, ...).

    Raises:
        ImportError: tf2onnx is not installed (``pip install tf2onnx``).
    """
    import tensorflow as tf

    from kssd.compat import freeze_concrete_function, patch_tf2onnx

    try:
        import tf2onnx
    except ImportError as error:  # pragma: no cover
        raise ImportError("ONNX export needs tf2onnx: pip install tf2onnx") from error
    patch_tf2onnx()  # tf2onnx 1.17 still uses np.object etc.; Keras ships the patch it uses itself
    from kssd.export.saved_model import input_signature

    @tf.function(input_signature=input_signature(batch_size), autograph=False)
    def serve(images):
        out = model(images, training=False)
        return [tf.identity(out[k], name=k) for k in output_keys]

    frozen = freeze_concrete_function(serve.get_concrete_function())
    proto, _ = tf2onnx.convert.from_graph_def(
        frozen.graph.as_graph_def(),
        input_names=["images:0"],
        output_names=[f"{k}:0" for k in output_keys],
        opset=opset,
    )
    renames = {"images:0": "images"}
    renames.update({f"{k}:0": k for k in output_keys})
    _rename_io(proto, renames)
    return proto


def export_onnx(inference_model, path, opset=17):
    """Convert ``inference_model`` to ONNX (input ``images`` uint8 ``(B, H, W, 3)``, outputs
    ``boxes``, ``scores``, ``classes``, ``num_detections``).

    Converted by :func:`convert_to_onnx`. NMS is expressed with
    ``tf.image.combined_non_max_suppression``, which tf2onnx maps onto ONNX's
    ``NonMaxSuppression`` op (tf2onnx 1.17 mistranslates the portable NMS's while loop).
    OpenCV's DNN module cannot run that op: see :mod:`kssd.export.opencv`.

    Args:
        inference_model: a model from :func:`kssd.inference.build_inference_model`.
        path: output ``.onnx`` file.
        opset: ONNX opset, default 17.

    Returns:
        ``path``.

    Raises:
        ImportError: tf2onnx is not installed (``pip install tf2onnx``).
    """
    import onnx

    from kssd.inference.inference_model import DETECTION_KEYS

    model = with_nms_implementation(inference_model, "tensorflow")
    onnx.save(convert_to_onnx(model, DETECTION_KEYS, opset=opset), str(path))
    return path

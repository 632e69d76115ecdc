"""SavedModel export: a ``serve`` endpoint taking uint8 images and returning the detection dict."""

import keras

ENDPOINT = "serve"


def input_signature(batch_size=None):
    """The exported input: uint8 ``(B, H, W, 3)`` named ``images``; height and width free, and the
    batch too unless ``batch_size`` is given."""
    import tensorflow as tf

    return [tf.TensorSpec((batch_size, None, None, 3), tf.uint8, name="images")]


def export_saved_model(inference_model, path):
    """Write ``inference_model`` as a SavedModel with a ``serve`` endpoint.

    Args:
        inference_model: a model from :func:`kssd.inference.build_inference_model`.
        path: output directory.

    Returns:
        ``path``.

    Examples:
        >>> import tempfile, os
        >>> from kssd.inference import build_inference_model
        >>> from kssd.export.saved_model import export_saved_model
        >>> from kssd.testing import toy_detector
        >>> infer = build_inference_model(toy_detector())
        >>> out = export_saved_model(infer, os.path.join(tempfile.mkdtemp(), "sm"))
        >>> os.path.exists(os.path.join(out, "saved_model.pb"))
        True
    """
    archive = keras.export.ExportArchive()
    archive.track(inference_model)
    archive.add_endpoint(
        ENDPOINT,
        lambda images: inference_model(images, training=False),
        input_signature=input_signature(),
    )
    archive.write_out(str(path), verbose=False)
    return path

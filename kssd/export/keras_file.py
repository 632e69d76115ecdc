"""``.keras`` export: the whole inference graph as a Keras model file."""


def export_keras(inference_model, path):
    """Save ``inference_model`` to a ``.keras`` file (reload with ``keras.saving.load_model``
    after ``import kssd``, plus ``import kssd_zoo`` for zoo models).

    Args:
        inference_model: a model from :func:`kssd.inference.build_inference_model`.
        path: output file, ending in ``.keras``.

    Returns:
        ``path``.

    Raises:
        ValueError: ``path`` does not end in ``.keras``.

    Examples:
        >>> import tempfile, os
        >>> from kssd.inference import build_inference_model
        >>> from kssd.export.keras_file import export_keras
        >>> from kssd.testing import toy_detector
        >>> path = os.path.join(tempfile.mkdtemp(), "toy.keras")
        >>> export_keras(build_inference_model(toy_detector()), path) == path
        True
    """
    if not str(path).endswith(".keras"):
        raise ValueError(f"--out/path for format 'keras' must end in .keras, got {path}")
    inference_model.save(str(path))
    return path

"""Loading keras.applications backbones with clear offline errors (internal helper)."""

import os


def keras_models_dir():
    """Where keras.utils.get_file caches application weights: $KERAS_HOME/models or ~/.keras/models."""
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(base, "models")


def load_application(factory, app_name, file_name, weights, **kwargs):
    """Build ``factory(weights=weights, **kwargs)``; turn download failures into a clear error.

    ``weights`` is "imagenet" (downloaded once by Keras into its cache) or a path to the
    Keras weight file.
    """
    if weights != "imagenet" and not os.path.isfile(str(weights)):
        raise FileNotFoundError(
            f"backbone_weights={weights!r}: expected 'imagenet' or the path of the Keras "
            f"{app_name} weight file ({file_name})"
        )
    try:
        return factory(weights=weights, **kwargs)
    except Exception as err:  # network errors come as URLError/OSError/Exception from get_file
        cached = os.path.join(keras_models_dir(), file_name)
        raise RuntimeError(
            f"could not load the ImageNet weights of keras.applications.{app_name} "
            f"({type(err).__name__}: {err}). Without network access, download {file_name} "
            f"elsewhere and either put it at {cached} (Keras' cache; $KERAS_HOME moves it) "
            f"or pass backbone_weights='/path/to/{file_name}'."
        ) from err

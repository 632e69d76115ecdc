"""kssd_zoo.load: names, YAML specs, .keras files, Keras models, weights and its errors."""

import shutil

import keras
import numpy as np
import pytest

import kssd_zoo
from kssd_zoo.spec import SPECS_DIR
from kssd_zoo.weights import load_weights


def _same_weights(a, b):
    assert len(a.weights) == len(b.weights)
    for x, y in zip(a.weights, b.weights):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_load_name_builds_an_uncompiled_detector():
    model = kssd_zoo.load("tiny_ssd")
    assert isinstance(model, kssd_zoo.Detector)
    assert model.name == "tiny_ssd"
    assert not model.compiled


def test_load_name_with_overrides_and_compile():
    model = kssd_zoo.load("tiny_ssd", num_classes=2, input_shape=(96, 96), compile=True)
    assert model.num_classes == 2 and tuple(model.input_size) == (96, 96)
    assert model.compiled


def test_load_yaml_spec_path(tmp_path):
    path = tmp_path / "my_tiny.yaml"
    shutil.copy(SPECS_DIR / "tiny_ssd.yaml", path)
    for given in (path, str(path)):
        model = kssd_zoo.load(given)
        assert isinstance(model, kssd_zoo.Detector) and model.name == "tiny_ssd"


def test_load_keras_file_round_trip(tmp_path):
    model = kssd_zoo.load("tiny_ssd", num_classes=2)
    path = tmp_path / "tiny.keras"
    model.save(path)
    loaded = kssd_zoo.load(path)
    assert isinstance(loaded, kssd_zoo.Detector)
    assert loaded.class_names == model.class_names
    _same_weights(loaded, model)
    image = np.full((1, 128, 128, 3), 100.0, "float32")
    np.testing.assert_allclose(np.asarray(loaded(image)), np.asarray(model(image)), atol=1e-6)
    assert not loaded.compiled


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_load_keras_file_compile_restores_the_saved_compilation(tmp_path):
    path = tmp_path / "compiled.keras"
    kssd_zoo.load("tiny_ssd", compile=True).save(path)
    assert not kssd_zoo.load(path).compiled
    assert kssd_zoo.load(str(path), compile=True).compiled


def test_load_weights_file_into_name_keras_file_and_model(tmp_path):
    trained = kssd_zoo.load("tiny_ssd")
    weights = tmp_path / "trained.weights.h5"
    trained.save_weights(weights)
    other = kssd_zoo.load("tiny_ssd")  # a different random init
    other_path = tmp_path / "other.keras"
    other.save(other_path)

    _same_weights(kssd_zoo.load("tiny_ssd", str(weights)), trained)
    _same_weights(kssd_zoo.load(other_path, weights=weights), trained)
    given = kssd_zoo.load("tiny_ssd")
    assert kssd_zoo.load(given, weights) is given
    _same_weights(given, trained)
    assert kssd_zoo.load(given) is given


def test_load_weights_that_do_not_fit_name_the_layer(tmp_path):
    weights = tmp_path / "two.weights.h5"
    kssd_zoo.load("tiny_ssd", num_classes=2).save_weights(weights)
    with pytest.raises(ValueError, match="first mismatching layer"):
        kssd_zoo.load("tiny_ssd", weights)


def test_load_unknown_name_suggests_close_matches():
    with pytest.raises(kssd_zoo.UnknownModelError) as info:
        kssd_zoo.load("tiny_sd")
    message = str(info.value)
    assert "unknown model 'tiny_sd' (did you mean 'tiny_ssd'" in message
    assert "known models:" in message and "face_ssd" in message
    assert ".keras file" in message
    # A KeyError (not in the registry) and a ValueError (a bad argument) both.
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)


def test_load_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="model file .*missing.keras' does not exist"):
        kssd_zoo.load(tmp_path / "missing.keras")
    with pytest.raises(FileNotFoundError, match="spec file .* does not exist"):
        kssd_zoo.load(str(tmp_path / "missing.yaml"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        kssd_zoo.load("tiny_ssd", str(tmp_path / "missing.weights.h5"))


def test_load_unknown_weights_preset_lists_known():
    with pytest.raises(KeyError, match="ultraface_rfb_320"):
        kssd_zoo.load("tiny_ssd", "no_such_preset")


def test_load_rejects_overrides_for_files_and_models(tmp_path):
    model = kssd_zoo.load("tiny_ssd")
    path = tmp_path / "tiny.keras"
    model.save(path)
    with pytest.raises(ValueError, match=r"spec overrides \(num_classes\) .* not to the .keras file"):
        kssd_zoo.load(path, num_classes=3)
    with pytest.raises(ValueError, match="not to a Keras model"):
        kssd_zoo.load(model, num_classes=3)


def test_load_rejects_other_types():
    with pytest.raises(TypeError, match="got int"):
        kssd_zoo.load(3)


def test_load_spec_dict():
    from kssd_zoo.spec import resolve_spec

    spec = resolve_spec("tiny_ssd")
    assert kssd_zoo.load(spec, num_classes=4).num_classes == 4


def test_load_keras_file_is_safe_mode(tmp_path):
    """A .keras file with a Python lambda is refused (safe mode), not executed."""
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ValueError, match="safe_mode"):
        kssd_zoo.load(path)


@pytest.mark.shared
def test_load_ultraface_with_onnx_weights(shared):
    pytest.importorskip("onnx")
    path = shared("models", "ultraface", "version-slim-320.onnx")
    model = kssd_zoo.load("ultraface_slim", path)
    reference = load_weights(kssd_zoo.build("ultraface_slim", compile=False), path)
    _same_weights(model, reference)


def test_a_crafted_keras_file_is_refused_in_one_line(tmp_path, monkeypatch):
    import json
    import zipfile

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.keras"
    config = {"module": "os", "class_name": "system", "config": "touch pwned", "registered_name": "system"}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
    with pytest.raises(
        ValueError, match="evil.keras: not a loadable kssd model file, it was not loaded"
    ) as info:
        kssd_zoo.load(path)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "pwned").exists()


def test_detecting_with_random_initial_weights_is_warned():
    import warnings

    with pytest.warns(UserWarning, match="tiny_ssd has its random initial weights"):
        kssd_zoo.load("tiny_ssd", for_inference=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kssd_zoo.load("tiny_ssd")  # training starts from random weights: no warning

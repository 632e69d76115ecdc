"""The layer contract every kssd layer (and other Keras object built from one) must honour.

:func:`run_layer_contract` checks, for one layer class and one set of constructor arguments:

1. **registration**: the class is registered for serialization as ``"<package>>ClassName"``;
2. **config is the constructor**: ``get_config()`` holds every constructor argument (and
   nothing else besides the base ``keras.layers.Layer`` keys), with the values given (or the
   defaults), is JSON-serializable, and ``from_config(get_config())`` rebuilds an equal config
   and, given the same weights, equal outputs;
3. **eager call** on concrete inputs (shapes and optionally values checked);
4. **symbolic call** on ``keras.Input`` placeholders inside a functional model, whose output
   shapes agree with the eager ones and whose outputs equal the eager outputs;
5. **compiled call**: the functional model under ``tf.function`` (TensorFlow backend) or
   ``jax.jit`` (JAX backend) gives the same outputs;
6. **save/load**: the functional model saved as ``.keras`` and loaded back with plain
   ``keras.saving.load_model`` (no ``custom_objects``) gives the same outputs.

:func:`run_model_saving_test` is step 6 on its own, for any model, optionally loading in a
fresh Python process that imports only ``kssd`` (proof that registration happens on import).
"""

import inspect
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np

__all__ = ["assert_outputs_close", "run_layer_contract", "run_model_saving_test"]


# --------------------------------------------------------------------------- helpers
def _is_tensor_like(x):
    return not isinstance(x, (dict, list, tuple)) and hasattr(x, "shape")


def _to_numpy(structure):
    return keras.tree.map_structure(lambda t: np.asarray(keras.ops.convert_to_numpy(t)), structure)


def _plain(value):
    """Tuples -> lists, NumPy scalars/arrays -> Python, recursively (JSON-like form)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _leaves_with_paths(structure, path=""):
    """Yield ``(path, leaf)`` pairs where a leaf is anything with a ``shape``."""
    if isinstance(structure, dict):
        for key in sorted(structure):
            yield from _leaves_with_paths(structure[key], f"{path}[{key!r}]")
    elif isinstance(structure, (list, tuple)) and not _is_tensor_like(structure):
        for i, item in enumerate(structure):
            yield from _leaves_with_paths(item, f"{path}[{i}]")
    else:
        yield path or "output", structure


def _shapes_compatible(actual, expected):
    if len(actual) != len(expected):
        return False
    return all(e is None or a is None or a == e for a, e in zip(actual, expected))


def _check_shapes(outputs, expected_shapes, what):
    """Compare the leaf shapes of ``outputs`` with a parallel structure of shape tuples."""
    if isinstance(outputs, dict):
        if not isinstance(expected_shapes, dict) or set(outputs) != set(expected_shapes):
            got = sorted(outputs)
            want = sorted(expected_shapes) if isinstance(expected_shapes, dict) else expected_shapes
            raise AssertionError(f"{what}: output keys {got} do not match expected {want}")
        for key in outputs:
            _check_shapes(outputs[key], expected_shapes[key], f"{what}[{key!r}]")
        return
    if isinstance(outputs, (list, tuple)):
        if len(outputs) != len(expected_shapes):
            raise AssertionError(f"{what}: {len(outputs)} outputs but {len(expected_shapes)} expected shapes")
        for i, (out, shape) in enumerate(zip(outputs, expected_shapes)):
            _check_shapes(out, shape, f"{what}[{i}]")
        return
    actual = tuple(outputs.shape)
    if not _shapes_compatible(actual, tuple(expected_shapes)):
        raise AssertionError(f"{what}: shape {actual}, expected {tuple(expected_shapes)}")


def assert_outputs_close(actual, expected, rtol=1e-6, atol=1e-6, what="output"):
    """Assert two nested output structures have equal structure, shapes, dtypes and values.

    Integer and boolean leaves must be equal; float leaves close (NaN equals NaN).

    Args:
        actual: nested dict/list/tuple of tensors or arrays.
        expected: the same structure.
        rtol: relative tolerance for float leaves, default 1e-6.
        atol: absolute tolerance for float leaves, default 1e-6.
        what: label used in failure messages, default ``"output"``.

    Examples:
        >>> import numpy as np
        >>> from kssd.testing import assert_outputs_close
        >>> assert_outputs_close({"a": np.ones(2)}, {"a": np.ones(2)})
    """
    actual_leaves = list(_leaves_with_paths(_to_numpy(actual)))
    expected_leaves = list(_leaves_with_paths(_to_numpy(expected)))
    actual_paths = [p for p, _ in actual_leaves]
    expected_paths = [p for p, _ in expected_leaves]
    if actual_paths != expected_paths:
        raise AssertionError(f"{what}: structure {actual_paths} differs from {expected_paths}")
    for (path, a), (_, e) in zip(actual_leaves, expected_leaves):
        label = f"{what}{path if path != 'output' else ''}"
        if a.shape != e.shape:
            raise AssertionError(f"{label}: shape {a.shape} differs from {e.shape}")
        if a.dtype != e.dtype:
            raise AssertionError(f"{label}: dtype {a.dtype} differs from {e.dtype}")
        if a.dtype.kind in "biu":
            np.testing.assert_array_equal(a, e, err_msg=label)
        else:
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True, err_msg=label)


def _as_args(input_data):
    """``input_data`` -> tuple of positional call arguments (tuple means several)."""
    return tuple(input_data) if isinstance(input_data, tuple) else (input_data,)


def _to_tensors(structure):
    return keras.tree.map_structure(keras.ops.convert_to_tensor, structure)


def _symbolic(structure, dynamic_batch):
    def make(x):
        x = np.asarray(x)
        shape = tuple(x.shape)
        if dynamic_batch and shape:
            shape = (None,) + shape[1:]
        return keras.Input(batch_shape=shape, dtype=str(x.dtype))

    return keras.tree.map_structure(make, structure)


def _constructor_params(layer_cls):
    params = {}
    for name, param in inspect.signature(layer_cls.__init__).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        params[name] = param.default
    return params


def _base_config_keys(layer):
    """Keys that the Keras base classes of ``layer`` put in ``get_config``."""
    keys = set()
    for base in type(layer).__mro__[1:]:
        if base.__module__.startswith("keras") and issubclass(base, keras.layers.Layer):
            try:
                keys |= set(base.get_config(layer))
            except Exception:  # noqa: BLE001 - a base may need constructor args it lacks
                continue
            break
    return keys | {"name", "trainable", "dtype", "autocast", "activity_regularizer"}


def _randomize_weights(layer, seed):
    rng = np.random.default_rng(seed)
    for variable in layer.weights:
        shape = tuple(variable.shape)
        dtype = np.dtype(keras.backend.standardize_dtype(variable.dtype))
        if dtype.kind == "f":
            value = rng.uniform(0.5, 1.5, size=shape).astype(dtype)
        else:
            continue
        variable.assign(value)


def _compiled_call(model, flat_inputs):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda xs: model(xs))(flat_inputs)
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def pure(t, nt, xs):
            return model.stateless_call(t, nt, xs)[0]

        return jax.jit(pure)(trainable, non_trainable, flat_inputs)
    return None  # other backends: no compiled check


# --------------------------------------------------------------------------- saving
_FRESH_LOADER = """
import sys
import numpy as np
import keras
import kssd  # noqa: F401  (registers kssd objects; nothing else is imported)
model_path, inputs_path, outputs_path = sys.argv[1:4]
data = np.load(inputs_path)
inputs = [data[f"x{i}"] for i in range(len(data.files))]
model = keras.saving.load_model(model_path)
outputs = model(inputs if len(inputs) > 1 else inputs[0])
flat = keras.tree.flatten(outputs)
np.savez(outputs_path, **{f"y{i}": keras.ops.convert_to_numpy(t) for i, t in enumerate(flat)})
"""


def run_model_saving_test(model, input_data, *, rtol=1e-6, atol=1e-6, fresh_process=False, tmp_dir=None):
    """Save ``model`` as ``.keras``, load it back and check that it gives the same outputs.

    Loading uses plain ``keras.saving.load_model(path)`` (safe mode, no ``custom_objects``),
    so every custom object in the model must be registered.

    Args:
        model: a built ``keras.Model``.
        input_data: what the model is called with: one array, or a list of arrays for a
            model with several inputs.
        rtol: relative tolerance of the comparison, default 1e-6.
        atol: absolute tolerance of the comparison, default 1e-6.
        fresh_process: also load and run the file in a new Python process that imports only
            ``keras`` and ``kssd`` (same ``KERAS_BACKEND``), default False (slower: seconds).
        tmp_dir: folder for the saved file, default a new temporary folder (removed after).

    Returns:
        The loaded model (from this process).

    Examples:
        >>> import numpy as np, keras
        >>> from kssd.layers import L2Normalization
        >>> from kssd.testing import run_model_saving_test
        >>> inputs = keras.Input((2, 2, 3))
        >>> model = keras.Model(inputs, L2Normalization()(inputs))
        >>> _ = run_model_saving_test(model, np.ones((1, 2, 2, 3), "float32"))
    """
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(tmp_dir) if tmp_dir is not None else Path(scratch)
        path = folder / "contract_model.keras"
        expected = _to_numpy(model(_to_tensors(input_data)))
        model.save(path)
        loaded = keras.saving.load_model(path)
        assert_outputs_close(loaded(_to_tensors(input_data)), expected, rtol, atol, "loaded model")
        if fresh_process:
            flat_inputs = input_data if isinstance(input_data, list) else [input_data]
            inputs_path, outputs_path = folder / "inputs.npz", folder / "outputs.npz"
            np.savez(inputs_path, **{f"x{i}": np.asarray(x) for i, x in enumerate(flat_inputs)})
            env = dict(os.environ, KERAS_BACKEND=keras.backend.backend())
            result = subprocess.run(
                [sys.executable, "-c", _FRESH_LOADER, str(path), str(inputs_path), str(outputs_path)],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if result.returncode != 0:
                raise AssertionError(
                    f"loading {path.name} in a fresh process (only `import kssd`) failed:\n"
                    f"{result.stderr[-3000:]}"
                )
            data = np.load(outputs_path)
            fresh = [data[f"y{i}"] for i in range(len(data.files))]
            assert_outputs_close(fresh, keras.tree.flatten(expected), rtol, atol, "fresh-process model")
    return loaded


# --------------------------------------------------------------------------- contract
def run_layer_contract(
    layer_cls,
    init_kwargs,
    input_data,
    expected_output_shape=None,
    *,
    expected_output=None,
    call_kwargs=None,
    expected_num_weights=None,
    dynamic_batch=True,
    randomize_weights=True,
    check_compiled=True,
    package="kssd",
    rtol=1e-6,
    atol=1e-6,
):
    """Run the kssd layer contract (see the module docstring) and return the eager outputs.

    Args:
        layer_cls: the layer class under test.
        init_kwargs: dict of constructor arguments (JSON-like values).
        input_data: the call's tensor inputs as NumPy arrays: a single array (or list of
            arrays, for a layer taking a list) is passed as the one positional argument; a
            **tuple** is unpacked into several positional arguments, e.g.
            ``(images, [fmap1, fmap2])`` for ``layer(images, [fmap1, fmap2])``.
        expected_output_shape: shape tuple of the output, or a structure of them parallel to
            the output (dict for dict outputs); ``None`` entries match any size. Default None
            (shapes only compared between eager and symbolic calls).
        expected_output: expected eager output values (same structure), default None.
        call_kwargs: extra non-tensor keyword arguments of ``call``, default None.
        expected_num_weights: number of weights the built layer must own, default None.
        dynamic_batch: give the symbolic inputs a ``None`` leading dimension (as a real
            model's batch axis), default True; False keeps the arrays' full static shapes.
        randomize_weights: set float weights to random values (uniform 0.5..1.5) after the
            first call, so that from_config/save-load checks compare non-default weights,
            default True.
        check_compiled: also run the functional model under ``tf.function`` / ``jax.jit``,
            default True.
        package: the registration package, default ``"kssd"``.
        rtol: relative tolerance of every output comparison, default 1e-6.
        atol: absolute tolerance of every output comparison, default 1e-6.

    Returns:
        The eager outputs (before weight randomization) as NumPy arrays, in the layer's
        output structure, for further value checks.

    Raises:
        AssertionError: naming the step and output that broke the contract.

    Examples:
        >>> import numpy as np
        >>> from kssd.layers import L2Normalization
        >>> from kssd.testing import run_layer_contract
        >>> out = run_layer_contract(L2Normalization, {"gamma_init": 2.0},
        ...                          np.ones((2, 3, 3, 4), "float32"), (2, 3, 3, 4))
        >>> round(float(out[0, 0, 0, 0]), 4)
        1.0
    """
    call_kwargs = dict(call_kwargs or {})
    name = layer_cls.__name__

    # 1. registration
    registered = keras.saving.get_registered_name(layer_cls)
    if registered != f"{package}>{name}":
        raise AssertionError(
            f"{name} is registered as {registered!r}, expected '{package}>{name}' "
            f"(use keras.saving.register_keras_serializable(package={package!r}))"
        )

    # 2. config is the constructor
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    params = _constructor_params(layer_cls)
    missing = sorted(set(params) - set(config))
    if missing:
        raise AssertionError(f"{name}.get_config() lacks constructor arguments {missing}")
    extra = sorted(set(config) - set(params) - _base_config_keys(layer))
    if extra:
        raise AssertionError(f"{name}.get_config() has keys that are not constructor arguments: {extra}")
    for key, default in params.items():
        if key in init_kwargs:
            wanted = init_kwargs[key]
        elif default is not inspect.Parameter.empty:
            wanted = default
        else:
            continue
        if key in ("name", "dtype", "trainable"):
            continue
        if _plain(config[key]) != _plain(wanted):
            raise AssertionError(
                f"{name}.get_config()[{key!r}] is {config[key]!r}, but the constructor got {wanted!r}"
            )
    try:
        json.dumps(keras.saving.serialize_keras_object(layer))
    except TypeError as err:
        raise AssertionError(f"{name}'s config is not JSON-serializable: {err}") from err
    rebuilt = layer_cls.from_config(config)
    if _plain(rebuilt.get_config()) != _plain(config):
        raise AssertionError(f"{name}.from_config(config).get_config() differs from config")

    # 3. eager call
    args = _as_args(input_data)
    tensors = _to_tensors(args)
    eager = _to_numpy(layer(*tensors, **call_kwargs))
    if expected_output_shape is not None:
        _check_shapes(eager, expected_output_shape, f"{name} eager output")
    if expected_output is not None:
        assert_outputs_close(eager, expected_output, rtol, atol, f"{name} eager output vs expected")
    if expected_num_weights is not None and len(layer.weights) != expected_num_weights:
        raise AssertionError(f"{name} owns {len(layer.weights)} weights, expected {expected_num_weights}")
    if randomize_weights and layer.weights:
        _randomize_weights(layer, seed=0)
    reference = _to_numpy(layer(*tensors, **call_kwargs))

    # 2b. from_config with the same weights -> same outputs
    rebuilt(*tensors, **call_kwargs)
    rebuilt.set_weights(layer.get_weights())
    assert_outputs_close(
        rebuilt(*tensors, **call_kwargs), reference, rtol, atol, f"{name}.from_config output"
    )

    # 4. symbolic call in a functional model
    symbolic_args = _symbolic(args, dynamic_batch)
    symbolic_out = layer(*symbolic_args, **call_kwargs)
    _check_shapes(
        symbolic_out,
        keras.tree.map_structure(lambda a: tuple(a.shape), reference),
        f"{name} symbolic output (vs eager shapes)",
    )
    if expected_output_shape is not None:
        _check_shapes(symbolic_out, expected_output_shape, f"{name} symbolic output")
    flat_inputs = keras.tree.flatten(symbolic_args)
    model = keras.Model(flat_inputs, symbolic_out)
    flat_data = [keras.ops.convert_to_tensor(x) for x in keras.tree.flatten(args)]
    assert_outputs_close(model(flat_data), reference, rtol, atol, f"{name} functional model output")

    # 5. compiled call
    if check_compiled:
        compiled = _compiled_call(model, flat_data)
        if compiled is not None:
            assert_outputs_close(compiled, reference, rtol, atol, f"{name} compiled output")

    # 6. save / load
    loaded = run_model_saving_test(
        model, [np.asarray(x) for x in keras.tree.flatten(args)], rtol=rtol, atol=atol
    )
    loaded_layers = [layer for layer in loaded.layers if isinstance(layer, layer_cls)]
    if len(loaded_layers) != 1:
        raise AssertionError(f"the loaded model holds {len(loaded_layers)} {name} layers, expected 1")
    if _plain(loaded_layers[0].get_config()) != _plain(layer.get_config()):
        raise AssertionError(f"{name}'s config changed through save/load")
    return eager

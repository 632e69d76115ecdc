"""kssd.layers.BatchNormalization computes what keras.layers.BatchNormalization computes."""

import keras
import numpy as np
import pytest

from kssd import layers as kssd_layers

CASES = [{}, {"epsilon": 1e-5, "momentum": 0.9}, {"center": False, "scale": False}]


def _forward_backward(layer, x, weight, training):
    """Outputs, gradients (input first, then trainable variables) and moving statistics."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(y * y * weight)
        grads = tape.gradient(loss, [x, *layer.trainable_variables])
    else:
        import jax

        variables = [v.value for v in layer.trainable_variables]

        def loss_fn(x, variables):
            y, non_trainable = layer.stateless_call(
                variables, [v.value for v in layer.non_trainable_variables], x, training=training
            )
            return (y * y * weight).sum(), (y, non_trainable)

        (_, (y, non_trainable)), grads = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(
            x, variables
        )
        for variable, value in zip(layer.non_trainable_variables, non_trainable):
            variable.assign(value)
        grads = [grads[0], *grads[1]]
    return (
        np.asarray(y),
        [np.asarray(g) for g in grads],
        np.asarray(layer.moving_mean),
        np.asarray(layer.moving_variance),
    )


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("kwargs", CASES)
def test_matches_keras_batch_normalization_values_gradients_and_statistics(kwargs, training):
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, (8, 6, 5, 7)).astype("float32")
    weight = rng.normal(0.0, 1.0, x.shape).astype("float32")
    layers = [kssd_layers.BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)]
    for layer in layers:
        layer.build(x.shape)
        if layer.scale:
            layer.gamma.assign(np.linspace(0.5, 1.5, 7, dtype="float32"))
            layer.beta.assign(np.linspace(-1.0, 1.0, 7, dtype="float32"))
        layer.moving_mean.assign(np.full(7, 0.5, "float32"))
        layer.moving_variance.assign(np.full(7, 2.0, "float32"))
    (y1, g1, m1, v1), (y2, g2, m2, v2) = (_forward_backward(layer, x, weight, training) for layer in layers)
    np.testing.assert_allclose(y1, y2, rtol=1e-5, atol=1e-5)
    assert len(g1) == len(g2) == 1 + 2 * bool(layers[0].scale)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())
    np.testing.assert_allclose(m1, m2, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(v1, v2, rtol=1e-6, atol=1e-6)
    momentum = kwargs.get("momentum", 0.99) if training else 1.0  # inference leaves them alone
    expected_mean = momentum * 0.5 + (1 - momentum) * x.mean(axis=(0, 1, 2))
    expected_variance = momentum * 2.0 + (1 - momentum) * x.var(axis=(0, 1, 2))  # biased
    np.testing.assert_allclose(m1, expected_mean, rtol=1e-5)
    np.testing.assert_allclose(v1, expected_variance, rtol=1e-5)


def test_the_tensorflow_training_pass_is_one_fused_op():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the fused kernel is TensorFlow's")
    import tensorflow as tf

    layer = kssd_layers.BatchNormalization()
    layer.build((2, 4, 4, 3))
    graph = (
        tf.function(lambda x: layer(x, training=True))
        .get_concrete_function(tf.TensorSpec((2, 4, 4, 3)))
        .graph
    )
    op_types = {op.type for op in graph.get_operations()}
    assert "FusedBatchNormV3" in op_types and "SquaredDifference" not in op_types
    graph = (
        tf.function(lambda x: layer(x, training=False))
        .get_concrete_function(tf.TensorSpec((2, 4, 4, 3)))
        .graph
    )
    assert "FusedBatchNormV3" not in {op.type for op in graph.get_operations()}


def test_weights_and_config_interchange_with_keras_batch_normalization(tmp_path):
    inputs = keras.Input((4, 4, 3))
    fused = keras.Model(inputs, kssd_layers.BatchNormalization(name="bn")(inputs))
    fused.layers[-1].moving_mean.assign([1.0, 2.0, 3.0])
    path = tmp_path / "bn.weights.h5"
    fused.save_weights(path)
    plain = keras.Model(inputs, keras.layers.BatchNormalization(name="bn")(inputs))
    plain.load_weights(path)
    np.testing.assert_array_equal(np.asarray(plain.layers[-1].moving_mean), [1.0, 2.0, 3.0])
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(fused.layers[-1]))
    assert type(restored) is kssd_layers.BatchNormalization
    assert restored.get_config() == fused.layers[-1].get_config()

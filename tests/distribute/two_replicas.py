"""Run in a fresh process: one device against 2 replicas on 2 logical CPUs; prints JSON.

``python -m tests.distribute.two_replicas OUT_DIR [tensorflow|jax]``. Under TensorFlow the CPU
is split into 2 logical devices (MirroredStrategy); under JAX the caller sets
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (DataParallel). The numbers are compared
by tests/distribute/test_distribute.py.
"""

import json
import sys


def _split_cpu():
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


def _uneven_batch(model, count=24, seed=0):
    """Images and targets whose positives differ a lot between the halves of each batch."""
    import numpy as np

    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (count, *model.input_size, 3)).astype("float32")
    anchors = len(model.anchors)
    y_true = np.zeros((count, anchors, 5), "float32")
    y_true[..., :4] = rng.normal(size=(count, anchors, 4))
    y_true[..., 4] = rng.choice([0] * 14 + [1, 2, 3], size=(count, anchors))
    y_true[0:count:8, :, 4] = 0  # some images without any positive
    y_true[1:count:8, :, 4] = 0
    return images, y_true


def sgd_steps(strategy_name, devices=None, steps=3):
    """Loss and weights after ``steps`` SGD steps of tiny_ssd with SSDLoss, global batch 8."""
    import keras
    import tensorflow as tf

    from kssd.losses import SSDLoss
    from kssd_zoo import build
    from kssd_zoo.training.distribute import resolve_distribution, synchronized_batch_norm

    run = resolve_distribution(strategy_name, devices)
    keras.utils.set_random_seed(1)
    with run.scope():
        model = build("tiny_ssd")
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss=SSDLoss(), jit_compile=False)
        images, y_true = _uneven_batch(model)
        data = tf.data.Dataset.from_tensor_slices((images, y_true)).batch(8, drop_remainder=True)
        with synchronized_batch_norm(model, run.synchronizes_batch_norm):
            history = model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
    kernel = model.weights[0].value
    placed = len(kernel.sharding.device_set) if hasattr(kernel, "sharding") else len(run.devices) or 1
    return history.history["loss"], [keras.ops.convert_to_numpy(w) for w in model.weights], placed


def main(out_dir, backend):
    import numpy as np

    results = {}
    loss_1, weights_1, _ = sgd_steps("none")
    loss_2, weights_2, placed = sgd_steps("mirrored", devices=2)
    results["sgd"] = {
        "devices_holding_weights": placed,
        "loss_one_device": loss_1,
        "loss_two_replicas": loss_2,
        "max_weight_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(weights_1, weights_2)),
        "max_weight_step": max(float(np.max(np.abs(a))) for a in weights_1),
    }

    from kssd_zoo.training import train

    epochs = 2 if backend == "tensorflow" else 1  # JAX compiles slowly on 2 cores
    common = dict(
        epochs=epochs, batch_size=8, steps_per_epoch=2, max_val_images=0, tensorboard=False, verbose=0
    )
    one = train("tiny_ssd", "shapes:24", out_dir=f"{out_dir}/one", **common)
    two = train("tiny_ssd", "shapes:24", out_dir=f"{out_dir}/two", strategy="mirrored", devices=2, **common)
    results["train"] = {
        "loss_one_device": one["history"]["loss"],
        "loss_two_replicas": two["history"]["loss"],
        "distribution": two["distribution"],
        "batch_size": two["batch_size"],
    }
    if backend == "tensorflow":
        mixed = train(
            "tiny_ssd",
            "shapes:24",
            out_dir=f"{out_dir}/mixed",
            strategy="mirrored",
            devices=2,
            mixed_precision="mixed_bfloat16",
            **{**common, "epochs": 1},
        )
        import keras

        reloaded = keras.saving.load_model(mixed["model_path"])
        results["mixed"] = {
            "loss": mixed["history"]["loss"],
            "synchronized_in_saved_model": any(
                getattr(layer, "synchronized", False) for layer in reloaded._flatten_layers()
            ),
        }
    print("RESULTS " + json.dumps(results))


if __name__ == "__main__":
    import os

    backend = sys.argv[2] if len(sys.argv) > 2 else "tensorflow"
    os.environ["KERAS_BACKEND"] = backend
    if backend == "tensorflow":
        _split_cpu()
    main(sys.argv[1], backend)

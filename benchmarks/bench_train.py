"""Training throughput of a zoo model (default face_ssd): ``model.fit`` variants against a
custom GradientTape loop.

Rows (images/s over timed steps after a warm-up, same fixed batch of random images and
targets encoded from random boxes, SGD momentum, SSDLoss):

* ``fit``: ``model.compile(...)`` defaults (``jit_compile="auto"``: XLA on GPU, not on CPU);
* ``fit jit_compile=True``: XLA-compiled train step;
* ``fit mixed precision``: ``mixed_float16`` on GPU / ``mixed_bfloat16`` on CPU;
* ``custom loop``: the style of the face SSD tutorial this project started from: a Python
  loop over the dataset calling a ``tf.function`` train step that runs a ``GradientTape``,
  computes the loss, applies the gradients and returns the loss to the host every step
  (written here from scratch).

Ratios are relative to the custom loop. ``GFLOP/s`` is the achieved rate (3 x the network's
forward FLOPs per image, counted by TensorFlow's profiler, x images/s) and ``% peak`` its share
of this CPU's FP32 peak (``benchmarks/_compute.py`` prints the formula). Usage::

    python benchmarks/bench_train.py [--batch-size 16] [--steps 20] [--warmup 3]
    python benchmarks/bench_train.py --model vgg16_ssd300 --batch-size 4 --steps 5 \
        --variants custom,fit,mixed
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def _batch(model, batch_size, seed=0):
    from kssd.encoding import encode_targets

    rng = np.random.default_rng(seed)
    height, width = model.input_size
    images = rng.uniform(0, 255, (batch_size, height, width, 3)).astype("float32")
    targets = []
    for _ in range(batch_size):
        count = int(rng.integers(1, 8))
        xy = rng.uniform(0.0, 0.8, (count, 2))
        wh = rng.uniform(0.03, 0.2, (count, 2))
        boxes = np.concatenate([xy, np.minimum(xy + wh, 1.0)], 1).astype("float32")
        targets.append(
            np.asarray(
                encode_targets(
                    boxes, np.ones(count, "int32"), model.anchors, model.match_threshold, model.variances
                )
            )
        )
    return images, np.stack(targets).astype("float32")


VARIANTS = ("custom", "fit", "jit", "mixed")


def _model(name, policy=None):
    import kssd_zoo

    previous = keras.mixed_precision.global_policy().name
    if policy:
        keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        return kssd_zoo.build(name, compile=False)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _optimizer():
    return keras.optimizers.SGD(0.001, momentum=0.9, nesterov=True)


def bench_fit(name, images, targets, steps, warmup, jit_compile="auto", policy=None):
    from kssd.losses import SSDLoss

    model = _model(name, policy)
    model.compile(optimizer=_optimizer(), loss=SSDLoss(), jit_compile=jit_compile)
    data = tf.data.Dataset.from_tensors((images, targets)).repeat()
    model.fit(data, steps_per_epoch=warmup, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * len(images) / (time.perf_counter() - started)


def bench_custom_loop(name, images, targets, steps, warmup):
    from kssd.losses import ssd_loss_components

    model = _model(name)
    optimizer = _optimizer()

    @tf.function
    def train_step(batch, labels):
        with tf.GradientTape() as tape:
            predictions = model(batch, training=True)
            parts = ssd_loss_components(labels, predictions)
            total = parts["localization"] + parts["classification"]
        gradients = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return total, parts

    data = tf.data.Dataset.from_tensors((images, targets)).repeat()
    iterator = iter(data)
    for _ in range(warmup):
        train_step(*next(iterator))
    started = time.perf_counter()
    running = 0.0
    for step in range(steps):
        batch, labels = next(iterator)
        total, parts = train_step(batch, labels)
        running = (running * step + float(total.numpy())) / (step + 1)  # host sync per step
    return steps * len(images) / (time.perf_counter() - started)


def main(argv=None):
    parser = argparse.ArgumentParser(description="training throughput of a zoo model")
    parser.add_argument("--model", default="face_ssd", help="zoo model name (default face_ssd)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated subset of {','.join(VARIANTS)} (ratios are against the first)",
    )
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or not variants:
        parser.error(f"--variants: unknown {unknown}; choose from {','.join(VARIANTS)}")
    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    policy = "mixed_float16" if on_gpu else "mixed_bfloat16"
    model = _model(args.model)
    images, targets = _batch(model, args.batch_size)
    timing = (args.model, images, targets, args.steps, args.warmup)
    runs = {
        "custom": ("custom loop (GradientTape + tf.function)", lambda: bench_custom_loop(*timing)),
        "fit": ("fit (jit_compile='auto')", lambda: bench_fit(*timing)),
        "jit": ("fit jit_compile=True", lambda: bench_fit(*timing, jit_compile=True)),
        "mixed": (f"fit {policy}", lambda: bench_fit(*timing, policy=policy)),
    }
    rows = [(runs[v][0], runs[v][1]()) for v in variants]
    base = rows[0][1]
    device = "GPU" if on_gpu else f"CPU ({os.cpu_count()} cores)"
    height, width = model.input_size
    from _compute import cpu_peak_gflops, network_flops

    step_flops = 3 * network_flops(model, (height, width, 3))  # forward + backward per image
    peak, formula = cpu_peak_gflops()
    print(f"{args.model} {height}x{width}, batch {args.batch_size}, {args.steps} timed steps, {device}")
    print(
        f"training step: {step_flops / 1e9:.2f} GFLOP per image (3 x forward); CPU peak {peak:.0f} GFLOP/s = {formula}"
    )
    print(f"{'variant':<42}{'images/s':>10}{'ratio':>8}{'GFLOP/s':>10}{'% peak':>8}")
    for name, speed in rows:
        achieved = speed * step_flops / 1e9
        share = f"{100 * achieved / peak:>8.1f}" if peak else f"{'-':>8}"
        print(f"{name:<42}{speed:>10.1f}{speed / base:>8.2f}{achieved:>10.1f}{share}")
    return 0


if __name__ == "__main__":
    main()

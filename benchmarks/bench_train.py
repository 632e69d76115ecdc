"""Training throughput of a zoo model (default face_ssd) against the face SSD tutorial's own loop.

Every variant runs in its own Python process (TensorFlow reads its oneDNN setting once, at
import), on the same fixed batch of random images with targets encoded from random boxes, SGD
with momentum, and the rounds alternate between variants; a row is the median over rounds
(``range``: the slowest and fastest round; a shared machine slows some runs).
Rows:

* ``tutorial``: the baseline, the WIDER FACE tutorial's training loop rebuilt here from its
  description: a Python loop calling a ``tf.function`` step that runs a ``GradientTape``, its
  MultiBoxLoss (softmax cross-entropy over every anchor, hard negatives ranked with two
  argsorts, 3 per positive, Huber localization over the positives, both divided by the
  positives) plus the model's regularization losses, applies the gradients and reads the loss
  on the host every step. TensorFlow imported before kssd, so TensorFlow's own defaults, and
  Keras' BatchNormalization computation;
* ``tutorial_onednn``: the same loop with ``TF_ENABLE_ONEDNN_OPTS=1``;
* ``fit``: ``model.fit`` with ``SSDLoss`` and kssd's defaults (``import kssd`` first: oneDNN
  on, ``kssd.layers.BatchNormalization`` trained with the fused kernel);
* ``fit_keras_bn``: the same with Keras' BatchNormalization computation (the fused-kernel lever);
* ``fit_no_onednn``: ``fit`` with ``TF_ENABLE_ONEDNN_OPTS=0`` (the oneDNN lever);
* ``jit``: ``fit`` with ``jit_compile=True`` (XLA);
* ``mixed``: ``fit`` under ``mixed_float16`` on a GPU, ``mixed_bfloat16`` on a CPU.

Ratios are against the first variant given. ``GFLOP/s`` is the achieved rate (3 x the network's
forward FLOPs per image, counted by TensorFlow's profiler, x images/s) and ``% peak`` its share
of this CPU's FP32 peak (``benchmarks/_compute.py`` prints the formula). Usage::

    python benchmarks/bench_train.py [--batch-size 32] [--steps 10] [--rounds 3]
    python benchmarks/bench_train.py --variants tutorial,mixed --rounds 1
    python benchmarks/bench_train.py --model vgg16_ssd300 --batch-size 4 --steps 5 \
        --variants fit,mixed
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

VARIANTS = {
    # name: (label, environment changes, loop, Keras' BN computation, compile options)
    "tutorial": (
        "tutorial loop (TensorFlow defaults)",
        {"TF_ENABLE_ONEDNN_OPTS": None},
        "tutorial",
        True,
        {},
    ),
    "tutorial_onednn": ("tutorial loop + oneDNN", {"TF_ENABLE_ONEDNN_OPTS": "1"}, "tutorial", True, {}),
    "fit": ("fit (kssd defaults)", {"TF_ENABLE_ONEDNN_OPTS": None}, "fit", False, {}),
    "fit_keras_bn": ("fit, Keras' BatchNormalization", {"TF_ENABLE_ONEDNN_OPTS": None}, "fit", True, {}),
    "fit_no_onednn": ("fit, TF_ENABLE_ONEDNN_OPTS=0", {"TF_ENABLE_ONEDNN_OPTS": "0"}, "fit", False, {}),
    "jit": ("fit jit_compile=True", {"TF_ENABLE_ONEDNN_OPTS": None}, "fit", False, {"jit_compile": True}),
    "mixed": ("fit mixed precision", {"TF_ENABLE_ONEDNN_OPTS": None}, "fit", False, {"mixed": True}),
}
DEFAULT_VARIANTS = [name for name in VARIANTS if name != "mixed"]


def _batch(model, batch_size, seed=0):
    """A fixed batch: uniform random images and targets encoded from 1-7 random boxes each."""
    import numpy as np

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
        labels = np.ones(count, "int32")
        targets.append(
            np.asarray(encode_targets(boxes, labels, model.anchors, model.match_threshold, model.variances))
        )
    return images, np.stack(targets).astype("float32")


def _dataset(images, targets):
    """The batch repeated, with tf.data's autotuning off (nothing to tune in a constant batch).

    With it on, the end of a ``fit`` sometimes waits for the autotuning thread's sleep, which
    doubles up to 10.24 s (measured here: a 10-step fit took 20.5 s instead of 10.2 s in 6
    of the 15 fit runs of one benchmark); the tutorial loop keeps its iterator and never waits.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return tf.data.Dataset.from_tensors((images, targets)).repeat().with_options(options)


def _model(name, policy=None):
    import keras

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
    import keras

    return keras.optimizers.SGD(0.001, momentum=0.9, nesterov=True)


def tutorial_loss(y_true, y_pred):
    """The tutorial's MultiBoxLoss: (localization, classification), each over the positives."""
    import keras
    import tensorflow as tf

    labels = tf.cast(y_true[..., 4], tf.int32)
    positive = labels > 0
    positives = tf.reduce_sum(tf.cast(positive, tf.int32), axis=1)
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=y_pred[..., 4:])
    rank = tf.argsort(tf.argsort(cross_entropy, axis=1, direction="DESCENDING"), axis=1)
    negative = rank < tf.expand_dims(3 * positives, 1)
    classification = tf.reduce_sum(tf.boolean_mask(cross_entropy, positive | negative))
    huber = keras.losses.Huber(reduction="sum")
    localization = huber(
        tf.boolean_mask(y_true[..., :4], positive), tf.boolean_mask(y_pred[..., :4], positive)
    )
    count = tf.cast(tf.reduce_sum(positives), tf.float32)
    return localization / count, classification / count


def time_tutorial_loop(model, images, targets, steps, warmup):
    import tensorflow as tf

    optimizer = _optimizer()

    @tf.function
    def train_step(batch, labels):
        with tf.GradientTape() as tape:
            predictions = model(batch, training=True)
            localization, classification = tutorial_loss(labels, predictions)
            total = tf.add_n(model.losses + [localization, classification])
        gradients = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return total

    iterator = iter(_dataset(images, targets))
    for _ in range(warmup):
        train_step(*next(iterator)).numpy()
    started = time.perf_counter()
    for _ in range(steps):
        train_step(*next(iterator)).numpy()  # the loss read on the host every step
    return steps * len(images) / (time.perf_counter() - started)


def time_fit(model, images, targets, steps, warmup, jit_compile="auto"):

    from kssd.losses import SSDLoss

    model.compile(optimizer=_optimizer(), loss=SSDLoss(), jit_compile=jit_compile)
    data = _dataset(images, targets)
    model.fit(data, steps_per_epoch=warmup, epochs=1, verbose=0)  # traces, and fit's first-call cost
    started = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * len(images) / (time.perf_counter() - started)


def run_variant(variant, model_name, batch_size, steps, warmup, count_flops):
    """Time one variant in this process; returns a dict (images/s, oneDNN state, FLOPs)."""
    _, _, loop, keras_batch_norm, options = VARIANTS[variant]
    if loop == "tutorial":
        import tensorflow  # noqa: F401  (before kssd: TensorFlow's own oneDNN default)
    import kssd.layers  # turns oneDNN on unless TensorFlow came first or the variable is set

    # isort: split
    import tensorflow as tf
    from tensorflow.python.util import _pywrap_util_port

    if keras_batch_norm:  # Keras' own computation in every kssd BatchNormalization
        kssd.layers.BatchNormalization._uses_fused_kernel = lambda *args: False
    policy = None
    if options.get("mixed"):
        policy = "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    model = _model(model_name, policy)
    images, targets = _batch(model, batch_size)
    if loop == "tutorial":
        speed = time_tutorial_loop(model, images, targets, steps, warmup)
    else:
        speed = time_fit(model, images, targets, steps, warmup, options.get("jit_compile", "auto"))
    result = {"images_per_s": speed, "onednn": bool(_pywrap_util_port.IsMklEnabled()), "policy": policy}
    result["gpu"] = bool(tf.config.list_physical_devices("GPU"))
    if count_flops:
        from _compute import network_flops

        height, width = model.input_size
        result["input_size"] = [height, width]
        counted = model if policy is None else _model(model_name)  # FLOPs of the float32 network
        result["step_flops"] = 3 * network_flops(counted, (height, width, 3))
    return result


def _child(variant, args, count_flops):
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for key, value in VARIANTS[variant][1].items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    command = [sys.executable, os.path.abspath(__file__), "--child", variant, "--model", args.model]
    command += [
        "--batch-size",
        str(args.batch_size),
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
    ]
    command += ["--count-flops"] if count_flops else []
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"variant {variant} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description="training throughput against the tutorial's loop")
    parser.add_argument("--model", default="face_ssd", help="zoo model name (default face_ssd)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per run (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternated rounds over the variants (default 3)"
    )
    parser.add_argument(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"comma-separated subset of {','.join(VARIANTS)} (ratios are against the first; "
        "default all but mixed, which takes minutes on CPUs without bfloat16 units)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--count-flops", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = run_variant(
            args.child, args.model, args.batch_size, args.steps, args.warmup, args.count_flops
        )
        print(json.dumps(result))
        return 0
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or not variants:
        parser.error(f"--variants: unknown {unknown}; choose from {','.join(VARIANTS)}")
    if min(args.batch_size, args.steps, args.rounds) < 1 or args.warmup < 0:
        parser.error("--batch-size, --steps and --rounds must be >= 1, --warmup >= 0")
    runs = {variant: [] for variant in variants}
    first = None
    for round_index in range(args.rounds):
        order = variants if round_index % 2 == 0 else variants[::-1]  # alternate the order too
        for variant in order:
            result = _child(variant, args, count_flops=first is None)
            first = first or result
            runs[variant].append(result)
            print(
                f"round {round_index + 1}: {variant} {result['images_per_s']:.1f} images/s",
                file=sys.stderr,
                flush=True,
            )

    from _compute import cpu_peak_gflops

    height, width = first["input_size"]
    step_flops = first["step_flops"]
    peak, formula = cpu_peak_gflops()
    device = "GPU" if first["gpu"] else f"CPU ({len(os.sched_getaffinity(0))} cores)"
    print(
        f"{args.model} {height}x{width}, batch {args.batch_size}, {args.steps} timed steps after {args.warmup},"
    )
    print(f"median of {args.rounds} alternated rounds, one process per run, {device}")
    print(
        f"training step: {step_flops / 1e9:.2f} GFLOP per image (3 x forward); CPU peak {peak:.0f} GFLOP/s = {formula}"
    )
    print(
        f"{'variant':<40}{'oneDNN':>7}{'images/s':>10}{'range':>12}{'ratio':>8}{'GFLOP/s':>10}{'% peak':>8}"
    )
    base = statistics.median(r["images_per_s"] for r in runs[variants[0]])
    for variant in variants:
        speeds = [r["images_per_s"] for r in runs[variant]]
        speed = statistics.median(speeds)
        spread = f"{min(speeds):.1f}-{max(speeds):.1f}"
        label = VARIANTS[variant][0]
        policy = runs[variant][0]["policy"]
        label = f"fit {policy}" if policy else label
        onednn = "on" if runs[variant][0]["onednn"] else "off"
        achieved = speed * step_flops / 1e9
        share = f"{100 * achieved / peak:>8.1f}" if peak and not first["gpu"] else f"{'-':>8}"
        print(f"{label:<40}{onednn:>7}{speed:>10.1f}{spread:>12}{speed / base:>8.2f}{achieved:>10.1f}{share}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How close a benchmark is to the machine: a network's FLOPs and this CPU's peak FLOP/s.

* :func:`network_flops`: floating-point operations of one forward pass, counted by TensorFlow's
  graph profiler over the model's traced graph (convolutions and matrix products as 2 x their
  multiply-accumulates, plus the element-wise ops it registers); a training step is counted as
  3x the forward pass (backward = 2x forward, the usual estimate).
* :func:`cpu_peak_gflops`: cores x clock x FP32 lanes x 2 (an FMA is 2 FLOPs) x FMA units per
  core, from ``os.sched_getaffinity``, ``/proc/cpuinfo`` and the CPU flags (AVX-512: 16 lanes,
  AVX2: 8, else 4). FMA units per core are not visible to software; 2 is assumed (server cores
  with AVX-512), override with ``KSSD_FMA_UNITS``.

Used by ``bench_train.py`` and ``bench_inference.py``: ``achieved GFLOP/s = FLOPs x images/s``.
"""

import os
import re


def network_flops(model, input_shape):
    """FLOPs of one forward pass of ``model`` on one ``input_shape`` (h, w, c) image (TF backend)."""
    import tensorflow as tf

    spec = tf.TensorSpec((1, *input_shape), tf.float32)
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    logger, level = tf.get_logger(), tf.get_logger().level
    logger.setLevel("ERROR")  # the v1 profiler's deprecation notices
    try:
        return int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)
    finally:
        logger.setLevel(level)


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as stream:
            text = stream.read()
    except OSError:
        return set(), None
    flags = re.search(r"^flags\s*:\s*(.*)$", text, re.M)
    mhz = re.findall(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M)
    return set(flags.group(1).split()) if flags else set(), max(map(float, mhz)) if mhz else None


def cpu_peak_gflops():
    """(peak FP32 GFLOP/s, the formula as text) for the cores this process may use."""
    flags, mhz = _cpu_flags()
    cores = len(os.sched_getaffinity(0))
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    units = int(os.environ.get("KSSD_FMA_UNITS", "2"))
    ghz = (mhz or 0.0) / 1000.0
    peak = cores * ghz * lanes * 2 * units
    return peak, f"{cores} cores x {ghz:.2f} GHz x {lanes} FP32 lanes x 2 (FMA) x {units} FMA units"

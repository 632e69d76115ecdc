"""Benchmark: SSD post-processing (decode + NMS) for the face SSD, kssd layers vs a Python loop.

Setting: 4420 anchors (face SSD at 240x320, steps 8/16/32/64), one object class (2 score
columns), score threshold 0.5, IoU threshold 0.4, up to 200 boxes kept (the settings of the
slim face SSD of the WIDER FACE tutorial).
Predictions are synthetic but shaped like a trained detector's: each image holds 8-20 faces;
anchors overlapping a face (IoU >= 0.25) get a confident face score and offsets pointing at it
(plus noise), ~1% of the other anchors are false alarms just above the threshold, so a few
hundred anchors per image pass the threshold; the rest get low scores.

Baseline: NMS written the way that tutorial's inference does it: per image and per class, select the
candidates, sort them, take their IoU matrix, then a Python ``while True`` loop that keeps the
best remaining box and drops its overlaps, with eager TensorFlow ops (written here from that
description, not copied).

Compared (same run, same data): the kssd layers ``DecodeDetections`` + ``NMS`` called eagerly,
inside ``tf.function`` and XLA (``jit_compile=True``), the TensorFlow-kernel path
(``implementation="tensorflow"``), or ``jax.jit`` under ``KERAS_BACKEND=jax``. Each portable
row is run twice: "before", the loop over every anchor (the implementation before the
ranked first stage, still the fallback), and "after", the default (the loop over each
class's 512 best candidates first); both give the same detections.

Run:  python benchmarks/bench_postprocess.py            (TensorFlow backend)
      KERAS_BACKEND=jax python benchmarks/bench_postprocess.py
Prints a table: batch, implementation, ms per batch, images/s, speed-up vs the baseline measured
in the same run, whether the detections equal the baseline's.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kssd.anchors import generate_anchors  # noqa: E402
from kssd.boxes import encode, iou, iou_numpy  # noqa: E402
from kssd.layers import NMS, DecodeDetections  # noqa: E402

STEPS = [8, 16, 32, 64]
MIN_SIZES = [[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]]
SCORE_THRESHOLD = 0.5
IOU_THRESHOLD = 0.4
KEEP = 200
VARIANCES = (0.1, 0.2)


# --------------------------------------------------------------------------- data
def synthetic_predictions(batch, anchors, seed=0):
    """y_pred (batch, A, 4 + 2): faces get confident, roughly right anchors; the rest noise."""
    rng = np.random.default_rng(seed)
    num_anchors = len(anchors)
    anchor_corners = np.concatenate(
        [anchors[:, :2] - anchors[:, 2:] / 2, anchors[:, :2] + anchors[:, 2:] / 2], 1
    )
    y_pred = np.zeros((batch, num_anchors, 6), "float32")
    for b in range(batch):
        n_faces = rng.integers(8, 21)
        size = rng.uniform(0.04, 0.3, (n_faces, 1)) * np.array([[0.75, 1.0]])  # faces taller than wide
        centre = rng.uniform(0.1, 0.9, (n_faces, 2))
        faces = np.clip(np.concatenate([centre - size / 2, centre + size / 2], 1), 0.0, 1.0)
        overlap = iou_numpy(anchor_corners, faces)  # (A, n_faces)
        best_face, best_iou = overlap.argmax(1), overlap.max(1)
        positive = best_iou >= 0.25
        false_alarm = ~positive & (rng.uniform(size=num_anchors) < 0.01)  # ~1% of background
        face_prob = np.where(
            positive, rng.uniform(0.55, 0.99, num_anchors), rng.uniform(0.0, 0.35, num_anchors)
        )
        face_prob = np.where(false_alarm, rng.uniform(0.5, 0.75, num_anchors), face_prob)
        target = encode(faces[best_face].astype("float32"), anchors, VARIANCES)
        offsets = np.where(
            positive[:, None],
            np.asarray(target) + rng.normal(0, 0.3, (num_anchors, 4)),
            rng.normal(0, 0.5, (num_anchors, 4)),
        )
        y_pred[b, :, :4] = offsets
        y_pred[b, :, 5] = np.log(face_prob / (1 - face_prob))  # logits (0, l): softmax = prob
    return y_pred


# --------------------------------------------------------------------------- baseline
def python_loop_postprocess(y_pred, anchors, max_candidates=None):
    """Tutorial-style post-processing: eager TF ops, Python loops over images, classes and picks.

    The tutorial also cuts the candidates to the best ``limit`` (200) *before* suppression, which
    drops weaker boxes that survive NMS; with ``max_candidates=None`` (default) every
    candidate enters, so the result is exact greedy NMS, comparable with kssd's.

    Returns one list per image of ``(box, score, class)`` tuples, sorted by score.
    """
    anchors = tf.constant(anchors)
    detections = []
    for image_pred in tf.unstack(tf.constant(y_pred)):
        offsets, logits = image_pred[:, :4], image_pred[:, 4:]
        centres = anchors[:, :2] + offsets[:, :2] * VARIANCES[0] * anchors[:, 2:]
        sizes = anchors[:, 2:] * tf.exp(offsets[:, 2:] * VARIANCES[1])
        boxes = tf.clip_by_value(tf.concat([centres - sizes / 2, centres + sizes / 2], 1), 0.0, 1.0)
        probs = tf.nn.softmax(logits, axis=-1)
        found = []
        for c in range(1, probs.shape[-1]):
            mask = probs[:, c] > SCORE_THRESHOLD
            class_boxes = tf.boolean_mask(boxes, mask)
            class_scores = tf.boolean_mask(probs[:, c], mask)
            if class_boxes.shape[0] == 0:
                continue
            order = tf.argsort(class_scores, direction="DESCENDING")[:max_candidates]
            class_boxes = tf.gather(class_boxes, order)
            class_scores = tf.gather(class_scores, order)
            overlaps = iou(class_boxes, class_boxes)  # eager TF ops on TF tensors
            alive = tf.ones(class_boxes.shape[0], dtype=tf.bool)
            picks = []
            current = 0
            while True:
                picks.append(current)
                # Survivors overlap the new pick by at most the threshold (the pick itself
                # has IoU 1 with itself and drops out).
                alive = tf.logical_and(alive, overlaps[current] <= IOU_THRESHOLD)
                if not bool(tf.reduce_any(alive)):
                    break
                current = int(tf.argmax(tf.cast(alive, tf.int32)))  # first alive = best left
            kept_boxes = tf.gather(class_boxes, picks).numpy()
            kept_scores = tf.gather(class_scores, picks).numpy()
            found += [(kept_boxes[i], float(kept_scores[i]), c) for i in range(len(picks))]
        found.sort(key=lambda item: -item[1])
        detections.append(found[:KEEP])
    return detections


# --------------------------------------------------------------------------- kssd
def kssd_layers(implementation="portable", before=False):
    """decode + NMS; ``before``: the portable loop over every anchor (no ranked first stage)."""
    decode = DecodeDetections(variances=VARIANCES)
    nms = NMS(
        score_threshold=SCORE_THRESHOLD,
        iou_threshold=IOU_THRESHOLD,
        max_detections_per_class=KEEP,
        max_detections=KEEP,
        implementation=implementation,
    )
    if before:
        nms._stage_size = None  # private switch, for this comparison only

    def run(y_pred, anchors):
        decoded = decode(y_pred, anchors)
        return nms(decoded["boxes"], decoded["scores"])

    return run


def _block(outputs):
    for value in keras.tree.flatten(outputs):
        keras.ops.convert_to_numpy(value)  # waits for the result (JAX is asynchronous)
    return outputs


def implementations():
    backend = keras.backend.backend()
    impls = {}
    for when in ("before", "after"):
        portable = kssd_layers("portable", before=when == "before")
        impls[f"kssd layers, eager call ({when})"] = portable
        if backend == "tensorflow":
            impls[f"kssd layers in tf.function ({when})"] = tf.function(portable)
            impls[f"kssd layers, XLA jit_compile ({when})"] = tf.function(portable, jit_compile=True)
        elif backend == "jax":
            import jax

            impls[f"kssd layers in jax.jit ({when})"] = jax.jit(portable)
    if backend == "tensorflow":
        impls['kssd layers, implementation="tensorflow"'] = kssd_layers("tensorflow")
        impls['kssd layers, implementation="tensorflow", tf.function'] = tf.function(
            kssd_layers("tensorflow")
        )
    return impls


def agree(kssd_out, baseline):
    """Same detections (count, class, score, box) in kssd's output and the baseline's."""
    out = {k: np.asarray(keras.ops.convert_to_numpy(v)) for k, v in kssd_out.items()}
    for b, found in enumerate(baseline):
        n = int(out["num_detections"][b])
        if n != len(found):
            return False
        if n and not (
            np.allclose(out["scores"][b, :n], [f[1] for f in found], atol=1e-6)
            and np.array_equal(out["classes"][b, :n], [f[2] for f in found])
            and np.allclose(out["boxes"][b, :n], np.stack([f[0] for f in found]), atol=1e-6)
        ):
            return False
    return True


def time_it(fn, min_repeats, min_seconds):
    timings = []
    start = time.perf_counter()
    while len(timings) < min_repeats or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        _block(fn())
        timings.append(time.perf_counter() - t0)
        if len(timings) >= 50:
            break
    return statistics.median(timings)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--min-seconds", type=float, default=2.0, help="timing budget per row")
    args = parser.parse_args(argv)

    anchors = generate_anchors((240, 320), steps=STEPS, min_sizes=MIN_SIZES)
    print(
        f"backend={keras.backend.backend()}  anchors={len(anchors)}  score_threshold={SCORE_THRESHOLD}  "
        f"iou_threshold={IOU_THRESHOLD}  keep={KEEP}  cpu_count={os.cpu_count()}"
    )
    rows = []
    for batch in args.batches:
        y_pred = synthetic_predictions(batch, anchors, seed=batch)
        above = (1 / (1 + np.exp(-y_pred[..., 5])) > SCORE_THRESHOLD).sum(1)
        baseline_out = python_loop_postprocess(y_pred, anchors)
        kept = [len(d) for d in baseline_out]
        print(
            f"batch {batch}: anchors above threshold per image: mean {above.mean():.0f} "
            f"(min {above.min()}, max {above.max()}); detections per image: mean {np.mean(kept):.1f}"
        )
        base_t = time_it(
            lambda y_pred=y_pred: python_loop_postprocess(y_pred, anchors),
            2 if batch > 1 else 3,
            args.min_seconds,
        )
        rows.append((batch, "baseline: Python-loop NMS, eager TF (tutorial)", base_t, 1.0, "-"))
        y_t = keras.ops.convert_to_tensor(y_pred)
        a_t = keras.ops.convert_to_tensor(anchors)
        for name, fn in implementations().items():
            out = _block(fn(y_t, a_t))  # warm-up: tracing / compilation
            same = agree(out, baseline_out)
            t = time_it(lambda fn=fn, y_t=y_t, a_t=a_t: fn(y_t, a_t), 5, args.min_seconds)
            rows.append((batch, name, t, base_t / t, "yes" if same else "NO"))

    header = f"| {'batch':>5} | {'implementation':<56} | {'ms/batch':>9} | {'images/s':>9} | {'speed-up':>8} | same dets |"
    print()
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for batch, name, t, ratio, same in rows:
        print(
            f"| {batch:>5} | {name:<56} | {t * 1000:>9.2f} | {batch / t:>9.1f} | {ratio:>7.1f}x | {same:>9} |"
        )


if __name__ == "__main__":
    main()

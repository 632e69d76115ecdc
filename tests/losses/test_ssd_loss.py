"""SSDLoss against a plain NumPy reference, hand-computed cases, gradients, fit and saving."""

import functools
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import kssd
from kssd.losses import SSDLoss, ssd_loss_components


# --------------------------------------------------------------------------- references
def _cross_entropy(logits, label):
    logits = np.asarray(logits, dtype="float64")
    top = logits.max()
    return float(top + math.log(np.exp(logits - top).sum()) - logits[int(label)])


def _smooth_l1(d):
    d = abs(float(d))
    return 0.5 * d * d if d < 1.0 else d - 0.5


def reference_terms(y_true, y_pred, neg_pos_ratio=3.0, min_negatives=0):
    """Loop-based SSD loss straight from the definition: (loc_sum / N, conf_sum / N)."""
    loc_total, conf_total, num_pos_total = 0.0, 0.0, 0
    for image_true, image_pred in zip(y_true, y_pred):
        classes = image_true[:, 4]
        ce = [_cross_entropy(p[4:], max(c, 0)) for p, c in zip(image_pred, classes)]
        positives = [a for a, c in enumerate(classes) if c > 0]
        background = [a for a, c in enumerate(classes) if c == 0]
        k = max(int(math.floor(neg_pos_ratio * len(positives))), min_negatives)
        hardest = sorted(background, key=lambda a: -ce[a])[:k]
        for a in positives:
            loc_total += sum(_smooth_l1(image_pred[a, c] - image_true[a, c]) for c in range(4))
            conf_total += ce[a]
        conf_total += sum(ce[a] for a in hardest)
        num_pos_total += len(positives)
    n = max(num_pos_total, 1)
    return loc_total / n, conf_total / n


def reference_loss(y_true, y_pred, neg_pos_ratio=3.0, alpha=1.0, min_negatives=0):
    loc, conf = reference_terms(y_true, y_pred, neg_pos_ratio, min_negatives)
    return conf + alpha * loc


def tutorial_formulation(y_true, y_pred, neg_pos_ratio=3):
    """The slim face SSD tutorial's MultiBoxLoss as described there (own NumPy code): returns (loc, conf).

    Huber averaged over the 4 coordinates; negatives ranked among ALL anchors (positives
    included); division by the unclamped number of positives.
    """
    loc_total, conf_total, num_pos_total = 0.0, 0.0, 0
    for image_true, image_pred in zip(y_true, y_pred):
        classes = image_true[:, 4]
        ce = np.array([_cross_entropy(p[4:], c) for p, c in zip(image_pred, classes)])
        positive = classes > 0
        rank = np.empty(len(ce), dtype=int)
        rank[np.argsort(-ce, kind="stable")] = np.arange(len(ce))
        negative = rank < positive.sum() * neg_pos_ratio
        selected = positive | negative
        conf_total += ce[selected].sum()
        for a in np.flatnonzero(positive):
            coords = [_smooth_l1(image_pred[a, c] - image_true[a, c]) for c in range(4)]
            loc_total += np.mean(coords)
        num_pos_total += positive.sum()
    return loc_total / num_pos_total, conf_total / num_pos_total


def random_case(rng, positives_per_image, num_anchors=24, num_classes=3, ignored=0):
    batch = len(positives_per_image)
    y_true = np.zeros((batch, num_anchors, 5), "float32")
    y_pred = rng.normal(0.0, 2.0, (batch, num_anchors, 4 + num_classes + 1)).astype("float32")
    for b, n in enumerate(positives_per_image):
        chosen = rng.choice(num_anchors, n + ignored, replace=False)
        pos, neutral = chosen[:n], chosen[n:]
        y_true[b, pos, :4] = rng.normal(0.0, 1.5, (n, 4))
        y_true[b, pos, 4] = rng.integers(1, num_classes + 1, n)
        y_true[b, neutral, 4] = -1.0
    return y_true, y_pred


def as_float(x):
    return float(keras.ops.convert_to_numpy(x))


# --------------------------------------------------------------------------- reference checks
@pytest.mark.parametrize(
    "positives, ratio, alpha, min_neg, ignored",
    [
        ([3, 0, 1], 3, 1.0, 0, 0),
        ([5, 2, 7, 1], 3, 1.0, 0, 0),
        ([1, 0], 2, 0.5, 2, 0),
        ([4, 4, 0], 1.5, 2.0, 1, 0),
        ([2, 6], 3, 1.0, 0, 3),  # neutral (class id -1) anchors are neither pos nor neg
        ([8, 8], 3, 1.0, 0, 0),  # more negatives wanted than exist: capped at all background
    ],
)
def test_matches_numpy_reference_on_random_cases(positives, ratio, alpha, min_neg, ignored, compiled):
    rng = np.random.default_rng(sum(positives) * 7 + min_neg)
    y_true, y_pred = random_case(rng, positives, ignored=ignored)
    expected = reference_loss(y_true, y_pred, ratio, alpha, min_neg)
    loss = SSDLoss(neg_pos_ratio=ratio, alpha=alpha, min_negatives=min_neg)
    value = compiled(loss.__call__)(y_true, y_pred)
    np.testing.assert_allclose(as_float(value), expected, rtol=1e-5)

    components = functools.partial(ssd_loss_components, neg_pos_ratio=ratio, min_negatives=min_neg)
    parts = compiled(components)(y_true, y_pred)
    loc, conf = reference_terms(y_true, y_pred, ratio, min_neg)
    np.testing.assert_allclose(as_float(parts["localization"]), loc, rtol=1e-5)
    np.testing.assert_allclose(as_float(parts["classification"]), conf, rtol=1e-5)
    assert as_float(parts["num_positives"]) == max(sum(positives), 1)


def test_normalizer_is_the_batch_count_not_per_image(compiled):
    rng = np.random.default_rng(3)
    loss = compiled(SSDLoss().__call__)
    y_true, y_pred = random_case(rng, [1, 3])
    whole = as_float(loss(y_true, y_pred))
    # Per-image sums (each image alone, N = its own count) recombined with the batch's N = 4.
    first = as_float(loss(y_true[:1], y_pred[:1])) * 1
    second = as_float(loss(y_true[1:], y_pred[1:])) * 3
    np.testing.assert_allclose(whole, (first + second) / 4, rtol=1e-5)


def test_reduction_none_gives_contributions_that_average_to_the_loss(compiled):
    rng = np.random.default_rng(4)
    y_true, y_pred = random_case(rng, [2, 0, 5])
    per_image = compiled(SSDLoss(reduction="none").__call__)(y_true, y_pred)
    per_image = keras.ops.convert_to_numpy(per_image)
    assert per_image.shape == (3,)
    np.testing.assert_allclose(per_image.mean(), reference_loss(y_true, y_pred), rtol=1e-5)
    total = as_float(compiled(SSDLoss(reduction="sum").__call__)(y_true, y_pred))
    np.testing.assert_allclose(total, 3 * reference_loss(y_true, y_pred), rtol=1e-5)


# --------------------------------------------------------------------------- hand-computed
def test_one_positive_by_hand():
    # 4 anchors, C = 1. Anchor 0 positive: target offsets 0, predicted (2, 0.5, 0, 0):
    # Smooth-L1 = (2 - 0.5) + 0.5 * 0.5**2 = 1.625. Its logits (0, 0): CE = log 2.
    # Background anchors: logits (0,0) -> log 2; (0, log 3) -> log 4; (log 3, 0) -> log 4/3.
    y_true = np.zeros((1, 4, 5), "float32")
    y_true[0, 0, 4] = 1.0
    y_pred = np.zeros((1, 4, 6), "float32")
    y_pred[0, 0, :4] = [2.0, 0.5, 0.0, 0.0]
    y_pred[0, 2, 4:] = [0.0, math.log(3.0)]
    y_pred[0, 3, 4:] = [math.log(3.0), 0.0]
    log2, log4, log43 = math.log(2), math.log(4), math.log(4 / 3)
    # ratio 2: the two hardest negatives are anchors 2 (log 4) and 1 (log 2).
    assert as_float(SSDLoss(neg_pos_ratio=2)(y_true, y_pred)) == pytest.approx(
        1.625 + log2 + log4 + log2, rel=1e-6
    )
    # ratio 3 (default): all three background anchors.
    assert as_float(SSDLoss()(y_true, y_pred)) == pytest.approx(1.625 + log2 + log4 + log2 + log43, rel=1e-6)
    # alpha weights the localization term only; ratio 0 keeps no negatives.
    assert as_float(SSDLoss(neg_pos_ratio=0, alpha=2.0)(y_true, y_pred)) == pytest.approx(
        2 * 1.625 + log2, rel=1e-6
    )


def test_no_positives_gives_zero_by_default_and_min_negatives_term_otherwise(compiled):
    y_true = np.zeros((2, 3, 5), "float32")
    y_true[..., :4] = np.inf  # whatever an encoder leaves at background must not leak
    y_pred = np.zeros((2, 3, 6), "float32")
    y_pred[0, 1, 4:] = [0.0, math.log(3.0)]  # CE log 4
    y_pred[1, 2, 4:] = [0.0, math.log(7.0)]  # CE log 8
    loss = as_float(compiled(SSDLoss().__call__)(y_true, y_pred))
    assert loss == 0.0
    # min_negatives=1: each image keeps its hardest anchor; N clamps to 1.
    loss = as_float(compiled(SSDLoss(min_negatives=1).__call__)(y_true, y_pred))
    assert loss == pytest.approx(math.log(4) + math.log(8), rel=1e-6)
    loss = as_float(compiled(SSDLoss(min_negatives=2).__call__)(y_true, y_pred))
    assert loss == pytest.approx(math.log(4) + math.log(8) + 2 * math.log(2), rel=1e-6)


def test_positives_are_excluded_from_the_negative_ranking(compiled):
    # Anchor 0 is a positive with a huge CE; with ratio 1 the single negative must be the
    # hardest *background* anchor (anchor 1), not the positive again.
    y_true = np.zeros((1, 3, 5), "float32")
    y_true[0, 0, 4] = 1.0
    y_pred = np.zeros((1, 3, 6), "float32")
    y_pred[0, 0, 4:] = [10.0, 0.0]
    y_pred[0, 1, 4:] = [0.0, 1.0]
    expected = _cross_entropy([10.0, 0.0], 1) + _cross_entropy([0.0, 1.0], 0)
    value = compiled(SSDLoss(neg_pos_ratio=1).__call__)(y_true, y_pred)
    assert as_float(value) == pytest.approx(expected, rel=1e-6)


def test_documented_differences_from_the_tutorial_formulation(compiled):
    components = compiled(ssd_loss_components)
    rng = np.random.default_rng(11)
    y_true, y_pred = random_case(rng, [3, 2, 4])
    # Make every positive easy (low CE) so that the tutorial's ranking, which includes
    # positives, picks the same negatives as ours.
    for b, a in zip(*np.nonzero(y_true[..., 4] > 0)):
        y_pred[b, a, 4:] = -10.0
        y_pred[b, a, 4 + int(y_true[b, a, 4])] = 10.0
    tutorial_loc, tutorial_conf = tutorial_formulation(y_true, y_pred)
    parts = components(y_true, y_pred)
    np.testing.assert_allclose(as_float(parts["localization"]), 4 * tutorial_loc, rtol=1e-5)
    np.testing.assert_allclose(as_float(parts["classification"]), tutorial_conf, rtol=1e-5)

    # A hard positive takes a negative slot in the tutorial's ranking, not in ours.
    a = int(np.flatnonzero(y_true[0, :, 4] > 0)[0])
    y_pred[0, a, 4:] = 10.0
    y_pred[0, a, 4 + int(y_true[0, a, 4])] = -30.0
    _, tutorial_conf = tutorial_formulation(y_true, y_pred)
    ours = as_float(components(y_true, y_pred)["classification"])
    np.testing.assert_allclose(ours, reference_terms(y_true, y_pred)[1], rtol=1e-5)
    assert ours > tutorial_conf + 1e-3


# --------------------------------------------------------------------------- gradients
def _gradient(loss, y_true, y_pred):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        pred = tf.Variable(y_pred)
        with tf.GradientTape() as tape:
            value = loss(y_true, pred)
        return value.numpy(), tape.gradient(value, pred).numpy()
    if backend == "jax":
        import jax

        value, grad = jax.jit(jax.value_and_grad(lambda p: loss(y_true, p)))(y_pred)
        return np.asarray(value), np.asarray(grad)
    pytest.skip(f"no gradient helper for backend {backend}")


@pytest.mark.parametrize("min_negatives", [0, 2])
def test_finite_gradients_without_positives(min_negatives):
    rng = np.random.default_rng(5)
    y_true = np.zeros((2, 10, 5), "float32")
    y_true[..., :4] = np.inf
    y_pred = rng.normal(0.0, 3.0, (2, 10, 7)).astype("float32")
    value, grad = _gradient(SSDLoss(min_negatives=min_negatives), y_true, y_pred)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert np.all(grad[..., :4] == 0.0)  # no positives: no localization gradient
    if min_negatives == 0:
        assert value == 0.0 and np.all(grad == 0.0)
    else:
        assert np.count_nonzero(np.abs(grad[..., 4:]).sum(-1)) == 2 * min_negatives


def test_gradient_flows_only_to_selected_anchors():
    rng = np.random.default_rng(6)
    y_true, y_pred = random_case(rng, [2, 1], num_anchors=12)
    _, grad = _gradient(SSDLoss(neg_pos_ratio=2), y_true, y_pred)
    assert np.all(np.isfinite(grad))
    touched = np.abs(grad[..., 4:]).sum(-1) > 0
    assert touched.sum(axis=1).tolist() == [2 + 4, 1 + 2]
    positive = y_true[..., 4] > 0
    assert np.all(np.abs(grad[..., :4]).sum(-1)[~positive] == 0)


# --------------------------------------------------------------------------- config / errors
def test_get_config_is_exactly_the_constructor_arguments():
    loss = SSDLoss(neg_pos_ratio=2, alpha=0.5, min_negatives=3, reduction="sum", name="l")
    config = loss.get_config()
    assert config == {
        "neg_pos_ratio": 2,
        "alpha": 0.5,
        "min_negatives": 3,
        "reduction": "sum",
        "name": "l",
    }
    assert SSDLoss.from_config(config).get_config() == config
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, SSDLoss) and restored.get_config() == config
    assert SSDLoss().get_config() == {
        "neg_pos_ratio": 3.0,
        "alpha": 1.0,
        "min_negatives": 0,
        "reduction": "sum_over_batch_size",
        "name": "ssd_loss",
    }


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"neg_pos_ratio": -1}, "neg_pos_ratio"),
        ({"alpha": -0.1}, "alpha"),
        ({"min_negatives": 1.5}, "min_negatives"),
        ({"min_negatives": -1}, "min_negatives"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SSDLoss(**kwargs)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="y_true"):
        SSDLoss()(np.zeros((1, 3, 4), "float32"), np.zeros((1, 3, 6), "float32"))
    with pytest.raises(ValueError, match="y_pred"):
        SSDLoss()(np.zeros((1, 3, 5), "float32"), np.zeros((1, 3, 5), "float32"))


# --------------------------------------------------------------------------- fit / save
NUM_ANCHORS, NUM_CLASSES = 6, 2


def _tiny_model():
    inputs = keras.Input((8,))
    x = keras.layers.Dense(NUM_ANCHORS * (4 + NUM_CLASSES + 1))(inputs)
    outputs = keras.layers.Reshape((NUM_ANCHORS, 4 + NUM_CLASSES + 1))(x)
    return keras.Model(inputs, outputs)


def _tiny_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 8)).astype("float32")
    y_true = np.zeros((8, NUM_ANCHORS, 5), "float32")
    for b in range(8):
        pos = rng.choice(NUM_ANCHORS, 1 + b % 2, replace=False)
        y_true[b, pos, :4] = rng.normal(0.0, 1.0, (len(pos), 4))
        y_true[b, pos, 4] = rng.integers(1, NUM_CLASSES + 1, len(pos))
    return x, y_true


def test_compiled_loss_is_the_reference_and_fit_decreases_it():
    keras.utils.set_random_seed(0)
    model = _tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=SSDLoss())
    x, y_true = _tiny_data()
    # One batch: Keras' reduction of call() must give exactly the batch-level definition.
    before = model.evaluate(x, y_true, batch_size=8, verbose=0)
    expected = reference_loss(y_true, model.predict(x, batch_size=8, verbose=0))
    assert before == pytest.approx(expected, rel=1e-5)
    history = model.fit(x, y_true, batch_size=4, epochs=15, verbose=0)
    after = model.evaluate(x, y_true, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert after < 0.5 * before


@pytest.mark.slow
def test_saved_model_reloads_after_only_import_kssd(tmp_path):
    model = _tiny_model()
    model.compile(optimizer="sgd", loss=SSDLoss(neg_pos_ratio=2, alpha=0.5, min_negatives=1))
    path = tmp_path / "tiny.keras"
    model.save(path)
    script = (
        "import json, sys, keras, kssd\n"
        "m = keras.saving.load_model(sys.argv[1])\n"
        "print(type(m.loss).__name__, json.dumps(m.loss.get_config(), sort_keys=True))\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    name, config = result.stdout.strip().splitlines()[-1].split(" ", 1)
    assert name == "SSDLoss"
    import json

    assert json.loads(config) == {
        "alpha": 0.5,
        "min_negatives": 1,
        "name": "ssd_loss",
        "neg_pos_ratio": 2,
        "reduction": "sum_over_batch_size",
    }


def test_saved_model_reloads_in_process(tmp_path):
    model = _tiny_model()
    model.compile(optimizer="sgd", loss=SSDLoss(neg_pos_ratio=2, min_negatives=1))
    path = tmp_path / "tiny.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored.loss, SSDLoss)
    assert restored.loss.get_config() == model.loss.get_config()
    x, y_true = _tiny_data()
    assert restored.evaluate(x, y_true, batch_size=8, verbose=0) == pytest.approx(
        model.evaluate(x, y_true, batch_size=8, verbose=0), rel=1e-6
    )


def test_kssd_package_exposes_the_loss():
    assert kssd.losses.SSDLoss is SSDLoss
    assert keras.saving.get_registered_object("kssd>SSDLoss") is SSDLoss

import keras
import numpy as np
import pytest

from kssd.callbacks import WarmUpMultiStep


def reference(step, init, boundaries, rate, warmup, min_lr):
    # Direct transcription of the rule: linear warm-up, then piecewise constant decays.
    if warmup > 0 and step <= warmup:
        return min_lr + step * (init - min_lr) / warmup
    return init * rate ** sum(step > b for b in boundaries)


@pytest.mark.parametrize("step", [0, 1, 10, 49, 50, 51, 499, 500, 501, 699, 700, 701, 5000])
def test_values_match_rule(step):
    sched = WarmUpMultiStep(0.01, [500, 700], decay_rate=0.1, warmup_steps=50, min_learning_rate=1e-4)
    expected = reference(step, 0.01, [500, 700], 0.1, 50, 1e-4)
    np.testing.assert_allclose(float(sched(step)), expected, rtol=1e-6)


def test_known_points():
    sched = WarmUpMultiStep(0.01, [500, 700], warmup_steps=50, min_learning_rate=1e-4)
    got = [float(sched(s)) for s in (0, 25, 50, 300, 500, 501, 700, 701)]
    np.testing.assert_allclose(got, [1e-4, 0.00505, 0.01, 0.01, 0.01, 0.001, 0.001, 0.0001], rtol=1e-5)


def test_no_warmup_and_no_boundaries_is_constant():
    sched = WarmUpMultiStep(0.5, [])
    assert [float(sched(s)) for s in (0, 1, 10**6)] == [0.5, 0.5, 0.5]


def test_config_round_trip_and_registration():
    sched = WarmUpMultiStep(0.01, [5, 9], decay_rate=0.5, warmup_steps=2, min_learning_rate=0.001)
    config = sched.get_config()
    assert config == {
        "initial_learning_rate": 0.01,
        "boundaries": [5, 9],
        "decay_rate": 0.5,
        "warmup_steps": 2,
        "min_learning_rate": 0.001,
    }
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(sched))
    assert isinstance(clone, WarmUpMultiStep)
    assert [float(clone(s)) for s in range(12)] == [float(sched(s)) for s in range(12)]


def test_optimizer_uses_schedule_and_steps_advance():
    sched = WarmUpMultiStep(0.1, [2], decay_rate=0.1)
    var = keras.Variable(np.ones(2, "float32"))
    opt = keras.optimizers.SGD(learning_rate=sched)
    lrs = []
    for _ in range(4):
        lrs.append(float(opt.learning_rate))
        opt.apply_gradients([(np.ones(2, "float32"), var)])
    np.testing.assert_allclose(lrs, [0.1, 0.1, 0.1, 0.01], rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"boundaries": [5, 3]}, "increasing"),
        ({"boundaries": [1], "warmup_steps": -1}, "warmup_steps"),
        ({"boundaries": [1], "min_learning_rate": -1.0}, "learning rates"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WarmUpMultiStep(0.1, **kwargs)

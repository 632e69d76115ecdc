"""A zoo detector's fit says when a run ends inside the spec's learning-rate warm-up."""

import warnings

import numpy as np
import pytest

import kssd_zoo
from kssd.data import load_dataset


def _dataset(model, count=2):
    images = np.random.default_rng(0).integers(0, 255, (count, *model.input_size, 3)).astype("uint8")
    boxes = np.array([[[40.0, 40.0, 120.0, 120.0]]] * count, "float32")
    return load_dataset(
        (images, {"boxes": boxes, "labels": np.ones((count, 1))}), model, batch_size=count, training=False
    )


def test_fit_warns_once_when_the_run_ends_inside_the_warm_up():
    model = kssd_zoo.face_ssd()  # warm-up 5 epochs x 403 steps
    ds = _dataset(model)
    with pytest.warns(
        UserWarning, match=r"ends at step 1, inside the learning-rate warm-up of 2015 steps"
    ) as seen:
        model.fit(ds, epochs=1, verbose=0)
    message = next(str(w.message) for w in seen if "warm-up" in str(w.message))
    assert "training.steps_per_epoch=403" in message and "compile_from_spec(steps_per_epoch=" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model._warn_if_run_ends_in_warmup(ds, {"epochs": 2})  # said once per model


def test_no_warning_when_the_schedule_fits_the_run():
    model = kssd_zoo.face_ssd().compile_from_spec(steps_per_epoch=1)  # warm-up of 5 steps
    ds = _dataset(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model._warn_if_run_ends_in_warmup(ds, {"epochs": 6})
        model._warn_if_run_ends_in_warmup(ds.repeat(), {"epochs": 1})  # unknown length: no guess
    with pytest.warns(UserWarning, match="ends at step 4"):
        model._warn_if_run_ends_in_warmup(ds, {"epochs": 4})

"""Training on several devices: equivalence with one device, the CLI, arguments and their errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kssd_zoo.training.distribute import check_global_batch, resolve_distribution, synchronized_batch_norm


def _two_replicas(tmp_path, backend):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND=backend)
    if backend == "jax":
        # Two host devices. When the test shares the 2 cores with another test (xdist), one device's
        # thread can reach an all-reduce over 40 s after the other: XLA then aborts the process
        # (rendezvous "termination timeout", seen twice in CI). The terminate flag sets that limit.
        env["XLA_FLAGS"] = " ".join(
            [
                "--xla_force_host_platform_device_count=2",
                "--xla_cpu_collective_timeout_seconds=600",
                "--xla_cpu_collective_call_terminate_timeout_seconds=600",
                "--xla_cpu_collective_call_warn_stuck_timeout_seconds=120",
            ]
        )
    done = subprocess.run(
        [sys.executable, "-m", "tests.distribute.two_replicas", str(tmp_path), backend],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    problems = [line for line in done.stderr.splitlines() if not line.startswith(("I0000", "W0000", "    @"))]
    assert done.returncode == 0, "\n".join(problems)[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULTS "))
    return json.loads(line[len("RESULTS ") :])


def _check_equivalence(results):
    sgd = results["sgd"]
    assert sgd["devices_holding_weights"] == 2
    np.testing.assert_allclose(sgd["loss_two_replicas"], sgd["loss_one_device"], rtol=1e-6)
    # After 3 SGD steps: ~4e-5 measured (float rounding growing over the steps); normalizing by
    # each replica's own positives gives 1.1e-3, unsynchronized BatchNorm 1.5e-3.
    assert sgd["max_weight_diff"] < 2e-4 * sgd["max_weight_step"]
    trained = results["train"]
    # Two epochs of fit: the rounding of the two summation orders grows with the steps; 3.2e-4
    # measured in the second epoch on an AMD EPYC (oneDNN's kernels there), 3e-7 in the first.
    np.testing.assert_allclose(trained["loss_two_replicas"], trained["loss_one_device"], rtol=1e-3)
    assert trained["batch_size"] == {"global": 8, "per_replica": 4, "replicas": 2}
    assert trained["distribution"]["num_replicas"] == 2 and trained["distribution"]["is_chief"]


@pytest.mark.slow
def test_two_mirrored_replicas_train_like_one_device_with_the_global_batch(tmp_path):
    results = _two_replicas(tmp_path, "tensorflow")
    _check_equivalence(results)
    assert results["train"]["distribution"]["engine"] == "MirroredStrategy"
    assert np.isfinite(results["mixed"]["loss"]).all()  # mixed_bfloat16 under the strategy
    assert not results["mixed"]["synchronized_in_saved_model"]  # model.keras loads anywhere


@pytest.mark.slow
def test_jax_data_parallel_trains_like_one_device_with_the_global_batch(tmp_path):
    results = _two_replicas(tmp_path, "jax")
    _check_equivalence(results)
    assert results["train"]["distribution"]["engine"] == "DataParallel"


@pytest.mark.slow
def test_cli_trains_tiny_ssd_on_two_mirrored_replicas(tmp_path):
    out = tmp_path / "run"
    command = [
        *("train", "tiny_ssd", "--data", "shapes:32", "--epochs", "1", "--batch-size", "8"),
        *("--steps-per-epoch", "2", "--max-val-images", "4", "--no-tensorboard", "--verbose", "2"),
        *("--distribute", "mirrored", "--devices", "2", "--lr-scaling", "linear", "--out", str(out)),
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
    done = subprocess.run(
        [sys.executable, "-m", "kssd_zoo.cli", *command], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    header = next(line for line in done.stdout.splitlines() if line.startswith("devices:"))
    assert "2 replica(s), MirroredStrategy on CPU:0, CPU:1" in header
    assert "batch 8 global = 4 per replica x 2" in header
    assert "learning rate 0.00075 (= 0.003 x batch / 32, linear scaling)" in header
    results = json.loads((out / "results.json").read_text())
    assert results["learning_rate"] == {
        "base": 0.003,
        "effective": 0.00075,
        "scaling": "linear",
        "reference_batch_size": 32,
    }
    assert results["val_metrics"] is not None  # the chief evaluated
    assert (out / "model.keras").is_file()


def test_one_device_is_the_default():
    run = resolve_distribution(None)
    assert (run.kind, run.num_replicas, run.is_chief, run.strategy, run.distribution) == (
        "none",
        1,
        True,
        None,
        None,
    )
    assert run.as_dict()["engine"] is None


@pytest.mark.parametrize(
    "args, message",
    [
        (("horovod",), "--distribute 'horovod': expected one of none, mirrored, multi_worker, tpu"),
        (("multi_worker", 2), "--devices applies to --distribute mirrored"),
        (("mirrored", 0), "--devices must be a positive integer"),
    ],
)
def test_bad_distribution_arguments_are_named(args, message):
    with pytest.raises(ValueError, match=message):
        resolve_distribution(*args)


def test_the_global_batch_must_split_over_the_replicas():
    class FourReplicas:
        num_replicas = 4

        def describe(self):
            return "4 replica(s)"

    assert check_global_batch(32, FourReplicas()) == 8
    with pytest.raises(
        ValueError, match=r"--batch-size 10 is the global batch .* 4 replicas .* e\.g\. 8 or 12"
    ):
        check_global_batch(10, FourReplicas())


def test_batch_norm_is_synchronized_only_inside_the_block():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization()])
    layer = model.layers[0]
    with synchronized_batch_norm(model, True) as changed:
        assert changed == 1 and layer.synchronized
    assert not layer.synchronized
    with synchronized_batch_norm(model, False) as changed:
        assert changed == 0 and not layer.synchronized


def test_chief_and_worker_index_come_from_the_cluster(monkeypatch):
    from kssd_zoo.training import distribute

    class Resolver:
        def __init__(self, cluster, task_type, task_id):
            self.cluster, self.task_type, self.task_id = cluster, task_type, task_id

        def cluster_spec(self):
            class Spec:
                def as_dict(inner):
                    return self.cluster

            return Spec()

    class Strategy:
        def __init__(self, resolver):
            self.cluster_resolver = resolver

    workers = {"worker": ["a:1", "b:1", "c:1"]}
    assert distribute._cluster_role(Strategy(Resolver(workers, "worker", 0))) == (3, 0, True)
    assert distribute._cluster_role(Strategy(Resolver(workers, "worker", 2))) == (3, 2, False)
    with_chief = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}
    assert distribute._cluster_role(Strategy(Resolver(with_chief, "chief", 0))) == (3, 0, True)
    assert distribute._cluster_role(Strategy(Resolver(with_chief, "worker", 0))) == (3, 1, False)
    assert distribute._cluster_role(object()) == (1, 0, True)


def test_invalid_tf_config_is_named(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": ')
    with pytest.raises(ValueError, match=r"^TF_CONFIG is not valid JSON \("):
        resolve_distribution("multi_worker")


def test_a_model_built_outside_the_strategy_scope_is_refused(tmp_path):
    import tensorflow as tf

    from kssd_zoo import build
    from kssd_zoo.training import train

    model = build("tiny_ssd")
    with pytest.raises(
        ValueError, match=r"was not created under the strategy's scope .* `with strategy.scope\(\):`"
    ):
        train(
            model,
            "shapes:8",
            epochs=1,
            batch_size=4,
            max_val_images=0,
            tensorboard=False,
            verbose=0,
            out_dir=str(tmp_path / "run"),
            strategy=tf.distribute.MirroredStrategy(["/cpu:0"]),
        )

"""ImageNet backbone transfer for vgg16_ssd300 / mobilenetv2_ssd, tested with random sources."""

import keras
import numpy as np
import pytest

import kssd_zoo
from kssd.compat import keras_file_utils
from kssd_zoo.blocks.mobilenetv2 import transfer_mobilenetv2_weights
from kssd_zoo.blocks.vgg import decimate_fc6, decimate_fc7, transfer_vgg16_weights


def test_decimation_indices():
    kernel = np.arange(25088 * 4096, dtype="float32").reshape(25088, 4096)
    bias = np.arange(4096, dtype="float32")
    k6, b6 = decimate_fc6(kernel, bias)
    full = kernel.reshape(7, 7, 512, 4096)
    assert k6.shape == (3, 3, 512, 1024)
    for i, j, c, o in [(0, 0, 0, 0), (1, 2, 511, 1023), (2, 1, 7, 5)]:
        assert k6[i, j, c, o] == full[3 * i, 3 * j, c, 4 * o]
    np.testing.assert_array_equal(b6, bias[::4])
    k7, b7 = decimate_fc7(kernel[:4096], bias)
    assert k7.shape == (1, 1, 1024, 1024) and k7[0, 0, 5, 7] == kernel[20, 28]
    with pytest.raises(ValueError, match="fc6 kernel must be"):
        decimate_fc6(np.zeros((10, 10)), np.zeros(10))


@pytest.mark.slow
def test_vgg16_transfer_copies_and_decimates():
    keras.utils.set_random_seed(1)
    source = keras.applications.VGG16(weights=None, include_top=True)
    detector = kssd_zoo.vgg16_ssd300(compile=False)
    copied = transfer_vgg16_weights(detector, source)
    assert len(copied) == 15
    for b, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)):
        for c in range(1, n + 1):
            src_k, src_b = source.get_layer(f"block{b}_conv{c}").get_weights()
            dst_k, dst_b = detector.get_layer(f"conv{b}_{c}_conv").get_weights()
            if (b, c) == (1, 1):
                src_k = src_k[:, :, ::-1, :]  # BGR (Keras' Caffe weights) -> RGB input
            np.testing.assert_array_equal(dst_k, src_k)
            np.testing.assert_array_equal(dst_b, src_b)
    fc1_k, fc1_b = source.get_layer("fc1").get_weights()
    k6, b6 = detector.get_layer("conv6_conv").get_weights()
    np.testing.assert_array_equal(k6, fc1_k.reshape(7, 7, 512, 4096)[::3, ::3, :, ::4])
    np.testing.assert_array_equal(b6, fc1_b[::4])
    fc2_k, fc2_b = source.get_layer("fc2").get_weights()
    k7, b7 = detector.get_layer("conv7_conv").get_weights()
    np.testing.assert_array_equal(k7[0, 0], fc2_k[::4, ::4])
    np.testing.assert_array_equal(b7, fc2_b[::4])
    # Without the flip, conv1_1 is copied exactly.
    transfer_vgg16_weights(detector, source, bgr_to_rgb=False)
    np.testing.assert_array_equal(
        detector.get_layer("conv1_1_conv").get_weights()[0], source.get_layer("block1_conv1").get_weights()[0]
    )


def test_mobilenetv2_transfer_maps_by_name_and_matches_features():
    keras.utils.set_random_seed(2)
    source = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(224, 224, 3))
    rng = np.random.default_rng(0)
    for layer in source.layers:  # non-trivial BN statistics so a wrong mapping shows
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights(
                [
                    g + rng.normal(0, 0.1, g.shape),
                    b + rng.normal(0, 0.1, b.shape),
                    rng.normal(0, 0.1, m.shape),
                    1 + rng.uniform(0, 0.5, v.shape),
                ]
            )
    detector = kssd_zoo.mobilenetv2_ssd(compile=False)
    copied = transfer_mobilenetv2_weights(detector, source)
    assert "stem_conv" in copied and "block_12_project_bn" in copied
    assert len(copied) == 2 + 4 + 12 * 6  # stem (2) + expanded_conv (4) + blocks 1..12 (6 each)
    np.testing.assert_array_equal(
        detector.get_layer("block_7_expand_bn").get_weights()[2],
        source.get_layer("block_7_expand_BN").get_weights()[2],
    )
    # The copied backbone computes the same block_12 features as Keras' MobileNetV2.
    x = rng.uniform(0, 255, (1, 224, 224, 3)).astype("float32")
    ref = keras.Model(source.input, source.get_layer("block_12_add").output)
    ours = keras.Model(detector.input, detector.get_layer("block_12_add").output)
    expected = np.asarray(ref(keras.applications.mobilenet_v2.preprocess_input(x.copy())))
    np.testing.assert_allclose(np.asarray(ours(x)), expected, rtol=1e-3, atol=1e-3)


def test_imagenet_offline_fails_with_cache_hint(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(keras_file_utils(), "get_file", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(RuntimeError) as info:
        kssd_zoo.mobilenetv2_ssd(compile=False, backbone_weights="imagenet")
    message = str(info.value)
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5" in message
    assert str(tmp_path / "models") in message and "backbone_weights='/path/to/" in message


def test_backbone_weights_bad_path_and_unsupported_spec(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected 'imagenet' or the path"):
        kssd_zoo.mobilenetv2_ssd(compile=False, backbone_weights=str(tmp_path / "missing.h5"))
    with pytest.raises(ValueError, match="declares no pretrained_backbone"):
        kssd_zoo.tiny_ssd(compile=False, backbone_weights="imagenet")

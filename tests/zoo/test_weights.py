"""Weight presets, the verified download cache and load_weights."""

import hashlib
import urllib.error
import urllib.request

import numpy as np
import pytest

import kssd_zoo
from kssd_zoo.weights import PRESETS, ChecksumError, FetchError, download, fetch, load_weights
from kssd_zoo.weights.download import resolve_cache_dir, sha256_of

PAYLOAD = b"not really an onnx file, but bytes to cache" * 100
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "src" / "version-test.onnx"
    path.parent.mkdir()
    path.write_bytes(PAYLOAD)
    return path


@pytest.fixture
def count_downloads(monkeypatch):
    calls = []
    real = urllib.request.urlopen

    def counting(url, *args, **kwargs):
        calls.append(url)
        return real(url, *args, **kwargs)

    monkeypatch.setattr(download.urllib.request, "urlopen", counting)
    return calls


def _leftovers(directory):
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# ---------------------------------------------------------------------------------------------
# fetch


def test_fetch_file_url_into_cache_then_reuses_it(source, tmp_path, count_downloads):
    cache = tmp_path / "cache"
    first = fetch(source.as_uri(), DIGEST, cache_dir=cache)
    assert first == cache / "version-test.onnx"
    assert first.read_bytes() == PAYLOAD
    assert len(count_downloads) == 1
    source.unlink()  # the second call must not need the source at all
    second = fetch(source.as_uri(), DIGEST, cache_dir=cache)
    assert second == first and second.read_bytes() == PAYLOAD
    assert len(count_downloads) == 1
    assert _leftovers(cache) == ["version-test.onnx"]  # no partial files left


def test_fetch_wrong_sha256_raises_and_leaves_no_file(source, tmp_path):
    cache = tmp_path / "cache"
    wrong = "0" * 64
    with pytest.raises(ChecksumError) as info:
        fetch(source.as_uri(), wrong, cache_dir=cache)
    message = str(info.value)
    assert f"expected {wrong}" in message and f"got {DIGEST}" in message
    assert _leftovers(cache) == []


def test_fetch_replaces_a_corrupt_cached_file(source, tmp_path, count_downloads):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "version-test.onnx").write_bytes(b"truncated")
    path = fetch(source.as_uri(), DIGEST, cache_dir=cache)
    assert path.read_bytes() == PAYLOAD
    assert len(count_downloads) == 1


def test_fetch_corrupt_cached_file_and_corrupt_source_is_a_checksum_error(source, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "version-test.onnx").write_bytes(b"truncated")
    source.write_bytes(b"changed upstream")
    with pytest.raises(ChecksumError, match=f"expected {DIGEST}"):
        fetch(source.as_uri(), DIGEST, cache_dir=cache)
    assert _leftovers(cache) == []  # neither the stale nor the new file is kept


def test_fetch_plain_local_path_and_fname(source, tmp_path):
    path = fetch(str(source), DIGEST, cache_dir=tmp_path / "c", fname="renamed.onnx")
    assert path == tmp_path / "c" / "renamed.onnx"
    assert sha256_of(path) == DIGEST


def test_fetch_uses_kssd_cache_env(source, tmp_path, monkeypatch):
    monkeypatch.setenv("KSSD_CACHE", str(tmp_path / "env-cache"))
    assert resolve_cache_dir() == tmp_path / "env-cache"
    assert fetch(source.as_uri(), DIGEST).parent == tmp_path / "env-cache"


def test_default_cache_is_under_keras_home(monkeypatch, tmp_path):
    monkeypatch.delenv("KSSD_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_cache_dir() == tmp_path / ".keras" / "kssd"


def test_fetch_offline_names_url_cache_path_and_sha256(tmp_path, monkeypatch):
    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    cache = tmp_path / "cache"
    url = "https://example.invalid/models/version-RFB-320.onnx"
    with pytest.raises(FetchError) as info:
        fetch(url, "a" * 64, cache_dir=cache, progress=False)
    message = str(info.value)
    assert "\n" not in message  # one line
    assert url in message and "Temporary failure in name resolution" in message
    assert 'weights="/path/to/version-RFB-320.onnx"' in message
    assert str(cache / "version-RFB-320.onnx") in message  # where to put a manual copy
    assert "sha256 " + "a" * 64 in message
    assert _leftovers(cache) == []


def test_fetch_offline_with_a_stale_cached_file_does_not_use_it(source, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "version-test.onnx").write_bytes(b"stale")

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    with pytest.raises(FetchError, match="no network"):
        fetch(source.as_uri(), DIGEST, cache_dir=cache, progress=False)
    assert _leftovers(cache) == []


def test_fetch_is_built_on_keras_get_file(source, tmp_path, monkeypatch):
    calls = []
    real = download.keras.utils.get_file

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(download.keras.utils, "get_file", spy)
    path = fetch(source.as_uri(), DIGEST, cache_dir=tmp_path / "cache", progress=False)
    assert path.read_bytes() == PAYLOAD
    (args, kwargs) = calls[0]
    assert args == ("version-test.onnx", source.as_uri())
    assert kwargs["file_hash"] == DIGEST and kwargs["hash_algorithm"] == "sha256"


def test_fetch_without_sha256_uses_the_cached_file(source, tmp_path, count_downloads):
    cache = tmp_path / "cache"
    assert fetch(source.as_uri(), None, cache_dir=cache, progress=False).read_bytes() == PAYLOAD
    assert fetch(source.as_uri(), None, cache_dir=cache, progress=False).read_bytes() == PAYLOAD
    assert len(count_downloads) == 1


def test_fetch_progress_false_prints_nothing(source, tmp_path, capsys):
    fetch(source.as_uri(), DIGEST, cache_dir=tmp_path / "cache", progress=False)
    assert capsys.readouterr().out == ""


def test_fetch_missing_local_file_is_a_fetch_error(tmp_path):
    with pytest.raises(FetchError, match="no-such.onnx"):
        fetch(str(tmp_path / "no-such.onnx"), None, cache_dir=tmp_path / "c")


def test_fetch_rejects_malformed_sha256(source, tmp_path):
    with pytest.raises(ValueError, match="64 hexadecimal"):
        fetch(source.as_uri(), "abc", cache_dir=tmp_path)


# ---------------------------------------------------------------------------------------------
# presets


def test_presets_point_at_the_upstream_release():
    assert set(PRESETS) == {
        "ultraface_slim_320",
        "ultraface_rfb_320",
        "ultraface_rfb_640",
        "blazeface_short",
        "blazeface_full",
        "blazeface_back",
    }
    base = "https://raw.githubusercontent.com/Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB/master/models/onnx/"
    for preset in PRESETS.values():
        assert preset["url"].endswith("/" + preset["fname"]) and preset["url"].startswith("https://")
        assert len(preset["sha256"]) == 64
        assert preset["model"] in kssd_zoo.list_models()
        if preset["format"] == "onnx":
            assert preset["url"] == base + preset["fname"] and preset["license"] == "MIT"
        else:
            assert preset["format"] == "tflite" and preset["license"] == "Apache-2.0"


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(n for n in PRESETS if PRESETS[n]["format"] == "onnx"))
def test_preset_digests_match_the_released_files(name, shared):
    preset = PRESETS[name]
    assert sha256_of(shared("models", "ultraface", preset["fname"])) == preset["sha256"]


# ---------------------------------------------------------------------------------------------
# load_weights


@pytest.fixture(scope="module")
def slim():
    return kssd_zoo.build("ultraface_slim", compile=False)


@pytest.fixture(scope="module")
def other_slim():
    return kssd_zoo.build("ultraface_slim", compile=False)


@pytest.fixture(scope="module")
def rfb():
    return kssd_zoo.build("ultraface_rfb", compile=False)


def test_load_weights_none_is_a_no_op(slim):
    assert load_weights(slim, None) is slim


def test_load_weights_unknown_preset_lists_known(slim):
    with pytest.raises(KeyError, match="ultraface_slim_320"):
        load_weights(slim, "ultraface_slim_32")


def test_load_weights_missing_file(slim, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.weights.h5"):
        load_weights(slim, tmp_path / "missing.weights.h5")


def test_load_weights_unknown_file_type(slim, tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match=r"\.onnx .*\.weights\.h5"):
        load_weights(slim, path)


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_keras_weights_round_trip(slim, other_slim, tmp_path, suffix):
    path = tmp_path / f"slim{suffix}"
    if suffix == ".keras":
        slim.save(path)
    else:
        slim.save_weights(path)
    for w in other_slim.weights:  # make sure the load changes something
        w.assign(np.zeros(w.shape, "float32"))
    load_weights(other_slim, path)
    for a, b in zip(slim.weights, other_slim.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_wrong_architecture_keras_file_names_first_mismatching_layer(slim, rfb, tmp_path, suffix):
    path = tmp_path / f"rfb{suffix}"
    rfb.save(path) if suffix == ".keras" else rfb.save_weights(path)
    before = [np.asarray(w).copy() for w in slim.weights]
    with pytest.raises(ValueError) as info:
        load_weights(slim, path)
    message = str(info.value)
    # The first 7 blocks agree; slim's dw7 depthwise BN (64 channels) meets RFB's first
    # branch BN (8 channels) at the same place in the file.
    assert "first mismatching layer is 'dw7_dw_bn'" in message
    assert "[(64,), (64,), (64,), (64,)]" in message and "[(8,), (8,), (8,), (8,)]" in message
    for a, b in zip(before, slim.weights):  # untouched
        np.testing.assert_array_equal(a, np.asarray(b))


@pytest.mark.shared
def test_preset_loads_offline_from_a_file_url(slim, other_slim, shared, tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    local = shared("models", "ultraface", "version-slim-320.onnx")
    preset = dict(PRESETS["ultraface_slim_320"], url=local.as_uri())
    monkeypatch.setitem(PRESETS, "ultraface_slim_320", preset)
    monkeypatch.setenv("KSSD_CACHE", str(tmp_path / "cache"))
    model = load_weights(slim, "ultraface_slim_320")
    assert (tmp_path / "cache" / "version-slim-320.onnx").is_file()
    reference = load_weights(other_slim, str(local))
    image = np.full((1, 240, 320, 3), 90.0, "float32")
    np.testing.assert_array_equal(np.asarray(model(image)), np.asarray(reference(image)))


def test_fetch_refuses_plain_http_and_ftp(tmp_path):
    for url in ("http://example.com/model.onnx", "ftp://example.com/model.onnx"):
        with pytest.raises(ValueError, match="only https:// URLs"):
            fetch(url, DIGEST, cache_dir=tmp_path)


def test_fetch_without_sha256_warns_with_the_digest(source, tmp_path):
    with pytest.warns(UserWarning, match=f"not verified; its sha256 is {DIGEST}"):
        fetch(source.as_uri(), None, cache_dir=tmp_path / "cache", progress=False)

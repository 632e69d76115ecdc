"""The weights shipped in the package are the released UltraFace weights, with their licence notice."""

import numpy as np
import pytest

import kssd_zoo
from kssd_zoo.weights.bundle import BUNDLED_DIR, bundle_preset, bundled_path
from tests.conftest import SHARED


def test_the_default_preset_ships_with_its_licence_notice():
    path = bundled_path("ultraface_rfb_320")
    assert path.is_file() and path.stat().st_size > 1_000_000
    notice = (BUNDLED_DIR / "NOTICE.md").read_text()
    assert "MIT License" in notice and path.name in notice
    assert bundled_path("ultraface_rfb_640") is None  # downloaded, not shipped


@pytest.mark.shared
def test_the_shipped_file_is_the_conversion_of_the_release(tmp_path):
    source = SHARED / "models" / "ultraface" / "version-RFB-320.onnx"
    if not source.is_file():
        pytest.skip("needs ../shared/models/ultraface/version-RFB-320.onnx")
    rebuilt = bundle_preset("ultraface_rfb_320", source, tmp_path / "rebuilt.weights.h5")
    shipped = kssd_zoo.load("ultraface_rfb", "ultraface_rfb_320")
    again = kssd_zoo.load("ultraface_rfb", str(rebuilt))
    for a, b in zip(shipped.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="sha256"):
        bundle_preset("ultraface_rfb_320", rebuilt, tmp_path / "x.weights.h5")

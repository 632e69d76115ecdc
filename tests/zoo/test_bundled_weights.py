"""The weights shipped in the package are the released UltraFace weights, with their licence notice."""

import numpy as np
import pytest

import kssd_zoo
from kssd_zoo.weights.bundle import BUNDLED_DIR, bundle_preset, bundled_path
from tests.conftest import SHARED

SHIPPED = ("ultraface_rfb_320", "ultraface_rfb_640")


@pytest.mark.parametrize("name", SHIPPED)
def test_the_shipped_presets_come_with_their_licence_notice(name):
    path = bundled_path(name)
    assert path.is_file() and path.stat().st_size > 1_000_000
    notice = (BUNDLED_DIR / "NOTICE.md").read_text()
    assert "MIT License" in notice and f"## {path.name}" in notice
    assert bundled_path("ultraface_slim_320") is None  # downloaded, not shipped


@pytest.mark.shared
@pytest.mark.parametrize("name", SHIPPED)
def test_the_shipped_file_is_the_conversion_of_the_release(name, tmp_path):
    from kssd_zoo.weights import PRESETS

    preset = PRESETS[name]
    source = SHARED / "models" / "ultraface" / preset["fname"]
    if not source.is_file():
        pytest.skip(f"needs ../shared/models/ultraface/{preset['fname']}")
    rebuilt = bundle_preset(name, source, tmp_path / "rebuilt.weights.h5")
    shipped = kssd_zoo.load("ultraface_rfb", name, **preset["build_overrides"])
    again = kssd_zoo.load("ultraface_rfb", str(rebuilt), **preset["build_overrides"])
    for a, b in zip(shipped.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="sha256"):
        bundle_preset(name, rebuilt, tmp_path / "x.weights.h5")

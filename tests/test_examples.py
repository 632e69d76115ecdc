"""The quick example scripts run to completion (CI runs them; each takes about a minute or less)."""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"


def _run(script, *args, timeout=600, env=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "script, args",
    [
        ("quick_start.py", ["--epochs", "2"]),
        ("custom_detector_from_layers.py", []),
        ("vgg16_ssd300_voc.py", ["--smoke"]),
    ],
)
def test_quick_examples_run(script, args, tmp_path):
    if script == "quick_start.py":
        args = [*args, "--out", str(tmp_path / "quick")]
    if script == "vgg16_ssd300_voc.py":
        args = [*args, "--out", str(tmp_path / "voc")]
    result = _run(script, *args)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]


@pytest.mark.slow
def test_sticker_example_with_its_defaults_offline(tmp_path):
    env = {"KSSD_CACHE": str(tmp_path / "no_cache")}  # nothing downloaded: the defaults ship
    result = _run("sticker_group_photo.py", "--out", str(tmp_path / "out"), env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    faces = int(result.stdout.strip().splitlines()[-1].split()[0])
    assert faces >= 5, result.stdout  # six copies of the portrait in the demo photo
    assert (tmp_path / "out" / "astronaut_collage_crown.jpg").is_file()


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_has_help(script):
    result = _run(script, "--help", timeout=120)
    assert result.returncode == 0 and "usage" in result.stdout.lower(), result.stderr[-2000:]


def test_the_spec_guide_shows_the_custom_detector_example_as_it_is():
    guide = (REPO_ROOT / "docs" / "guides" / "write_your_own_spec.md").read_text()
    code = (EXAMPLES / "custom_detector_from_layers.py").read_text().rstrip("\n")
    assert f"```python\n{code}\n```" in guide

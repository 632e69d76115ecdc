"""Deferred package imports under the console script: light modules alone, everything on first use."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_CHILD = r"""
import sys
import kssd_command  # the console script's launcher: DEFER_IMPORTS = True
import kssd.data.images, kssd.inference.passes, kssd.files
light = sorted(m for m in ("tensorflow", "keras", "kssd.layers", "kssd.data.pipeline") if m in sys.modules)
import kssd, kssd.data, kssd.inference
kssd.layers.NonMaxSuppression  # the first name of kssd runs its imports
from kssd.data import load_dataset, read_image
from kssd.inference import detect
import keras
registered = keras.saving.get_registered_object("kssd>NonMaxSuppression") is kssd.layers.NonMaxSuppression
try:
    kssd.no_such_name
    missing = "no error"
except AttributeError as error:
    missing = str(error)
print("RESULT", light, registered, missing)
"""


def test_light_modules_import_alone_and_the_rest_on_first_use():
    run = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert "RESULT [] True module 'kssd' has no attribute 'no_such_name'" in run.stdout, (
        run.stdout + run.stderr
    )


def test_a_plain_import_is_eager():
    child = "import sys, kssd; print('RESULT', 'kssd.layers' in sys.modules, 'keras' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert "RESULT True True" in run.stdout, run.stdout + run.stderr

"""Manners of the ``kssd`` command line: help and version without TensorFlow, every option's help
with its default, unexpected errors in one line (``--debug`` for the traceback), and the static
choice lists equal to kssd's registries."""

import argparse
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kssd_zoo.cli.main as cli_main
from kssd_zoo.cli import _choices
from kssd_zoo.cli.main import build_parser, main, parsers

REPO_ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("tensorflow", "keras", "jax", "onnx")
HELP_ARGVS = [
    ["--version"],
    ["--help"],
    *([sub, "--help"] for sub in ("data", "demo", "evaluate", "export", "predict", "sticker", "train")),
    ["data", "convert", "--help"],
    ["data", "stats", "--help"],
]


def _python(code, *args, env=None, options=("-c",)):
    environment = dict(os.environ if env is None else env)
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), environment.get("PYTHONPATH")) if p
    )
    return subprocess.run(
        [sys.executable, *options, code, *args],
        env=environment,
        cwd=str(REPO_ROOT),
        capture_output=True,
        text=True,
        timeout=600,
    )


# --- (a) help and version import no heavy framework ------------------------------------------

_HELP_CHILD = f"""
import contextlib, io, sys
from kssd_command import main  # what the kssd console script runs
for argv in {HELP_ARGVS!r}:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            main(argv)
        except SystemExit as stop:
            assert stop.code in (0, None), (argv, stop.code)
    assert out.getvalue().strip(), argv
print(sorted(m for m in {HEAVY!r} if m in sys.modules))
print(sorted(m for m in sys.modules if m == "kssd" or m.startswith("kssd.")))
"""


def test_help_and_version_import_no_tensorflow():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = _python(_HELP_CHILD, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    heavy, kssd_modules = done.stdout.strip().splitlines()[-2:]
    assert heavy == "[]", done.stdout
    assert kssd_modules == "[]", done.stdout  # kssd/__init__ imports TensorFlow
    assert done.stderr == ""


def test_python_m_version_imports_no_tensorflow():
    done = _python("kssd_command", "--version", options=("-X", "importtime", "-m"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == f"kssd {cli_main.kssd_version()}"
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "kssd_zoo.cli.main" in imported
    assert not imported & {*HEAVY, "kssd"}, sorted(imported & {*HEAVY, "kssd"})


# The zoo's public names still work after the command line imported kssd_zoo without loading it.
_LAZY_CHILD = """
import inspect, sys
import kssd_command
import kssd_zoo.cli.main
import kssd_zoo
assert "keras" not in sys.modules
from kssd_zoo import Detector, face_ssd, load, sticker
import keras
assert keras.saving.get_registered_object("kssd_zoo>Detector") is Detector
assert inspect.isfunction(kssd_zoo.sticker) and kssd_zoo.sticker is sticker
assert kssd_zoo.load is load and kssd_zoo.face_ssd is face_ssd
assert kssd_zoo.blocks.__name__ == "kssd_zoo.blocks"
print(sorted(n for n in vars(kssd_zoo) if not n.startswith("_") and n != "cli"))
"""

_EAGER_CHILD = """
import sys
import kssd_zoo
import keras
assert keras.saving.get_registered_object("kssd_zoo>Detector") is not None  # registered on import
print(sorted(n for n in vars(kssd_zoo) if not n.startswith("_")))
"""


@pytest.mark.slow
def test_plain_import_registers_and_the_deferred_import_ends_the_same():
    lazy, eager = _python(_LAZY_CHILD), _python(_EAGER_CHILD)
    assert lazy.returncode == 0, lazy.stderr[-3000:]
    assert eager.returncode == 0, eager.stderr[-3000:]
    names = eager.stdout.strip().splitlines()[-1]
    assert lazy.stdout.strip().splitlines()[-1] == names
    import kssd_zoo

    assert set(kssd_zoo.__all__) <= set(ast.literal_eval(names))


def test_tensorflow_logs_are_hidden_unless_debug(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    with pytest.raises(SystemExit):
        main(["--debug", "--version"])
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    with pytest.raises(SystemExit):
        main(["--version"])
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")  # the environment's choice is kept
    with pytest.raises(SystemExit):
        main(["--version"])
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def test_version_is_kssds():
    import kssd

    assert cli_main.kssd_version() == kssd.__version__


# --- (b) every option has help that shows its default -----------------------------------------


def _options():
    for parser in parsers(build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            yield parser, action, formatter._expand_help(action) if action.help else ""


def test_every_option_has_help_showing_its_default():
    seen = {parser.prog for parser, _, _ in _options()}
    assert {"kssd", "kssd data convert", "kssd data stats", "kssd export", "kssd predict"} <= seen
    for parser, action, text in _options():
        name = f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"
        assert text.strip(), f"{name} has no help"
        assert "default: None" not in text, f"{name}: {text}"
        assert text.lower().count("default") <= 1, f"{name} says its default twice: {text}"
        default = action.default
        if default is None or default is False or default is argparse.SUPPRESS:
            continue
        spellings = {str(default)} | ({f"{default:g}"} if isinstance(default, float) else set())
        assert any(s in text for s in spellings), f"{name}: help does not show default {default!r}: {text}"


def test_rendered_help_shows_defaults_and_keeps_epilogs(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    text = capsys.readouterr().out
    assert "(default: letterbox)" in text and "artifact format" in text
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "examples:\n  kssd train tiny_ssd --data shapes --epochs 10" in text  # raw epilog


# --- (c) errors: one line, or the traceback with --debug --------------------------------------

_FAILING_CHILD = """
import sys
import kssd_command  # the console script's path: the zoo's imports deferred
import kssd_zoo.cli.demo as demo
import kssd_zoo.cli.main as cli

def boom(args):
    raise RuntimeError("boom\\nsecond line")

cli._import_the_zoo = lambda: None  # no TensorFlow needed to fail
demo.run = boom
sys.exit(cli.main(sys.argv[1:]))
"""


def test_unexpected_error_is_one_line_without_debug():
    done = _python(_FAILING_CHILD, "demo")
    assert done.returncode == 1
    expected = "kssd demo: error: RuntimeError: boom (run with --debug for the traceback)\n"
    assert done.stderr == expected, done.stderr


def test_unexpected_error_shows_the_traceback_with_debug():
    done = _python(_FAILING_CHILD, "--debug", "demo")
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "RuntimeError: boom" in done.stderr and "(run with --debug" not in done.stderr


def test_expected_errors_keep_their_line_and_exit_code(monkeypatch, capsys):
    import kssd_zoo.cli.demo as demo

    def bad(args):
        raise ValueError("--seconds must be positive")

    monkeypatch.setattr(cli_main, "_import_the_zoo", lambda: None)
    monkeypatch.setattr(demo, "run", bad)
    assert main(["demo"]) == 2
    assert capsys.readouterr().err == "kssd demo: error: --seconds must be positive\n"
    assert main(["--debug", "demo"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.endswith("kssd demo: error: --seconds must be positive\n")


# --- (d) the static choice lists are kssd's registries ----------------------------------------


def test_static_choices_equal_the_registries():
    from kssd.boxes.matcher import MATCHING_STRATEGIES
    from kssd.data.augment import AUGMENTATIONS
    from kssd.data.readers import READERS, formats
    from kssd.export import EXPORT_FORMATS
    from kssd.export.tflite import QUANTIZATIONS
    from kssd.metrics.evaluate import METRICS
    from kssd_zoo.sticker.detection import QUALITY
    from kssd_zoo.training.distribute import DISTRIBUTE_CHOICES
    from kssd_zoo.training.fit import LR_SCALING

    assert _choices.STICKER_QUALITY == tuple(QUALITY)
    assert _choices.DISTRIBUTE_CHOICES == DISTRIBUTE_CHOICES
    assert _choices.LR_SCALING == LR_SCALING
    assert _choices.READER_FORMATS == tuple(READERS.names())
    assert _choices.SOURCE_FORMATS == tuple(sorted(formats()))
    assert _choices.CLASS_NAME_FORMATS == tuple(READERS.where(takes_class_names=True))
    assert _choices.MATCHING_STRATEGIES == tuple(MATCHING_STRATEGIES)
    assert _choices.METRICS == tuple(METRICS.names())
    assert _choices.AUGMENTATIONS == tuple(AUGMENTATIONS.names())
    assert _choices.EXPORT_FORMATS == tuple(EXPORT_FORMATS)
    assert _choices.QUANTIZATIONS == tuple(q for q in QUANTIZATIONS if q)


def test_jax_gets_a_persistent_compilation_cache_unless_the_user_set_one(monkeypatch, tmp_path):
    for name in ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KSSD_CACHE", str(tmp_path))
    cli_main.use_jax_compilation_cache()
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "jax_compilation_cache")
    assert os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "/elsewhere")
    cli_main.use_jax_compilation_cache()
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == "/elsewhere"


_NOISY_CHILD = """
import os, sys
import kssd_command
import kssd_zoo.cli.demo as demo
import kssd_zoo.cli.main as cli

def noisy(args):
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
    os.write(2, b"I0000 00:00:1796235409.494678   17328 port.cc:153] oneDNN custom operations are on.\\n")
    sys.stderr.write("epoch 1\\r 50%\\r100%\\n")
    sys.stderr.flush()
    os.write(2, b"Intermediate results kept\\n")
    return 0

cli._import_the_zoo = lambda: None
demo.run = noisy
sys.exit(cli.main(sys.argv[1:]))
"""


def test_native_log_lines_are_dropped_from_stderr_unless_debug():
    # TensorFlow 2.21 writes some C++ log lines through absl whatever TF_CPP_MIN_LOG_LEVEL says
    done = _python(_NOISY_CHILD, "demo")
    assert done.returncode == 0, done.stderr
    # (text mode reads the progress bar's \r as line ends)
    assert done.stderr.splitlines() == ["epoch 1", " 50%", "100%", "Intermediate results kept"]
    debug = _python(_NOISY_CHILD, "--debug", "demo")
    assert "port.cc:153] oneDNN" in debug.stderr and "absl::InitializeLog" in debug.stderr

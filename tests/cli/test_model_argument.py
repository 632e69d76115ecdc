"""The MODEL argument of the subcommands goes through kssd_zoo.load: its errors are reported."""

import pytest

from kssd_zoo.cli.main import main


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "tiny_sd", "photo.jpg", "--out", "OUT"],
        ["evaluate", "tiny_sd", "--data", "shapes:4"],
        ["export", "tiny_sd", "--format", "keras", "--out", "OUT/model.keras"],
    ],
)
def test_unknown_model_name_is_an_error_with_a_suggestion(argv, tmp_path, capsys):
    argv = [str(tmp_path / "out") if a == "OUT" else a.replace("OUT", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"kssd {argv[0]}: error: unknown model 'tiny_sd' (did you mean 'tiny_ssd'" in err


def test_missing_keras_file_is_an_error(tmp_path, capsys):
    missing = tmp_path / "missing.keras"
    assert main(["predict", str(missing), str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert f"kssd predict: error: model file '{missing}' does not exist" in capsys.readouterr().err


def test_python_m_entry_point_module_exists():
    import importlib

    module = importlib.import_module("kssd_zoo.cli.__main__")
    assert module.main is main

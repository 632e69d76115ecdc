"""``kssd export`` ends with a summary table; ``--json`` prints the report instead."""

import json

import pytest

from kssd_zoo.cli.main import main


def test_export_prints_a_summary_table_or_json(tmp_path, capsys):
    target = tmp_path / "tiny.keras"
    with pytest.warns(UserWarning, match="random initial weights"):
        assert main(["export", "tiny_ssd", "--format", "keras", "--out", str(target)]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = lines[lines.index("export summary") :]
    assert table[1].split() == ["format", "keras"] and table[2].split() == ["file", str(target)]
    assert table[3].startswith("size") and f"{target.stat().st_size:,} bytes" in table[3]
    # tiny_ssd's anchors are fractions of the image: auto exports at its trained size
    assert table[4].split() == ["input", "size", "128x128", "(letterbox),", "policy", "auto"]
    assert table[6].startswith("verification") and "matched" in table[6]
    with pytest.warns(UserWarning, match="random initial weights"):
        code = main(
            ["export", "tiny_ssd", "--format", "keras", "--out", str(target), "--overwrite", "--json"]
        )
    assert code == 0
    printed = capsys.readouterr().out
    report = json.loads(printed[printed.index("{") :])
    assert report["format"] == "keras" and "verification" in report
    assert report["input_size"] == "128x128 (letterbox), policy auto"

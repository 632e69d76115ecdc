"""The name lists written in the docs agree with the registries they describe."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def table_rows(path, header):
    """The rows (lists of cells) of the markdown table whose header row starts with ``header``."""
    lines = (ROOT / path).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def first_column_names(path, header):
    names = []
    for row in table_rows(path, header):
        match = re.fullmatch(r"`([\w.]+)`", row[0])
        assert match, f"{path}: first cell {row[0]!r} of the {header!r} table is not a `name`"
        names.append(match.group(1))
    return names


def test_data_guide_lists_every_reader_format():
    from kssd.data.readers import formats

    names = first_column_names("docs/guides/data.md", "format")
    assert sorted(names) == sorted(formats())


def test_data_guide_shows_class_names_for_exactly_the_readers_that_take_them():
    from kssd.data.readers import READERS

    rows = {row[0].strip("`"): row[1] for row in table_rows("docs/guides/data.md", "format")}
    documented = sorted(name for name, reader in rows.items() if name in READERS and "class_names" in reader)
    assert documented == READERS.where(takes_class_names=True)


def test_deployment_guide_lists_every_export_format():
    from kssd.export import EXPORT_FORMATS

    assert first_column_names("docs/guides/deployment.md", "format") == list(EXPORT_FORMATS)


def test_training_guide_lists_every_metric():
    from kssd.metrics import METRICS

    assert sorted(first_column_names("docs/guides/training.md", "metric")) == METRICS.names()


def test_readme_evaluate_row_names_every_metric():
    from kssd.metrics import METRICS

    row = next(
        line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| evaluate |")
    )
    named = set(re.findall(r"--metric (\w+)", row)) | set(re.findall(r"`(\w+)`", row.split("(also", 1)[-1]))
    assert sorted(named) == METRICS.names()


@pytest.mark.parametrize(
    "registry_path",
    [
        "kssd.data.readers:READERS",
        "kssd.data.augment:AUGMENTATIONS",
        "kssd.metrics.evaluate:METRICS",
        "kssd.export:EXPORT_FORMATS",
    ],
)
def test_library_tables_are_registries(registry_path):
    import importlib

    from kssd.registry import Registry, UnknownNameError

    module, name = registry_path.split(":")
    registry = getattr(importlib.import_module(module), name)
    assert isinstance(registry, Registry) and registry.names()
    with pytest.raises(UnknownNameError):
        registry.get("no such name")

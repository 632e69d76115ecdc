"""kssd.files: results are replaced in one rename, failures keep the previous content."""

import errno

import pytest

from kssd.files import TEMP_TAG, remove_stale_temporaries, write_atomically, write_text_atomically


def test_a_failing_writer_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.keras"
    write_text_atomically(target, "good")

    def half_then_fail(temp):
        temp.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        write_atomically(target, half_then_fail)
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_a_full_disk_names_the_path_and_keeps_the_previous_file(tmp_path):
    target = tmp_path / "results.json"
    write_text_atomically(target, "{}")

    def disk_full(temp):
        temp.write_text("partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match=r"results.json: could not be written \(No space left on device\)"):
        write_atomically(target, disk_full)
    assert target.read_text() == "{}"


def test_temporaries_keep_the_suffix_writers_check(tmp_path):
    seen = []

    def write(temp):
        seen.append(temp.name)
        temp.write_bytes(b"x")

    write_atomically(tmp_path / "epoch-0001.weights.h5", write)
    assert seen[0].startswith(".epoch-0001.weights.h5" + TEMP_TAG) and seen[0].endswith(".weights.h5")


def test_a_folder_is_replaced_whole_after_the_new_one_is_written(tmp_path):
    target = tmp_path / "saved_model"
    target.mkdir()
    (target / "old.pb").write_text("old")

    def write(temp):
        temp.mkdir()
        (temp / "saved_model.pb").write_text("new")

    write_atomically(target, write)
    assert sorted(p.name for p in target.iterdir()) == ["saved_model.pb"]
    assert [p.name for p in tmp_path.iterdir()] == ["saved_model"]


def test_stale_temporaries_are_swept_and_nothing_else(tmp_path):
    (tmp_path / f".model.keras{TEMP_TAG}123-abc.keras").write_text("stale")
    (tmp_path / f".saved_model{TEMP_TAG.replace('tmp', 'old')}1-2").mkdir()
    (tmp_path / "model.keras").write_text("kept")
    (tmp_path / "notes.tmp").write_text("the user's")
    assert remove_stale_temporaries(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras", "notes.tmp"]

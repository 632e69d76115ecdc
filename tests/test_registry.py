"""kssd.registry: the one registry type and the did-you-mean helper."""

import pytest

from kssd.registry import Registry, UnknownNameError, did_you_mean


def test_register_get_names_metadata_and_decorator():
    table = Registry("reader")

    @table.register("voc", takes_class_names=True)
    def voc():
        pass

    table.register("coco", "COCO", takes_class_names=False)
    assert table.get("voc") is voc and table["coco"] == "COCO"
    assert table.names() == ["coco", "voc"] and list(table) == ["voc", "coco"]
    assert "voc" in table and "yolo" not in table and [] not in table
    assert table.metadata("voc") == {"takes_class_names": True}
    assert table.where(takes_class_names=True) == ["voc"]


def test_duplicates_are_refused_unless_overridden():
    table = Registry("block")
    table.register("a", 1)
    table.register("a", 1)  # the same object again is fine
    with pytest.raises(ValueError, match="already registered"):
        table.register("a", 2)
    table.register("a", 2, override=True)
    assert table["a"] == 2
    with pytest.raises(ValueError, match="non-empty string"):
        table.register("", 3)


def test_unknown_names_raise_a_key_and_value_error_with_a_hint():
    table = Registry("reader")
    for name in ("coco", "imglab", "voc", "widerface", "yolo"):
        table.register(name, name)
    with pytest.raises(UnknownNameError) as info:
        table.get("widerfcae")
    message = str(info.value)
    assert message == (
        "unknown reader 'widerfcae' (did you mean 'widerface'?); known readers: coco, imglab, voc, widerface, yolo"
    )
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    assert info.value.name == "widerfcae" and info.value.known == table.names()


def test_custom_error_class_and_lazy_loader_run_once():
    class UnknownThing(UnknownNameError):
        pass

    calls = []
    table = Registry("thing", error=UnknownThing, loader=lambda: calls.append(table.register("x", 1)))
    assert table.names() == ["x"] and "x" in table and len(table) == 1
    assert calls == [1]
    with pytest.raises(UnknownThing):
        table["y"]


def test_setitem_and_delitem_for_monkeypatch(monkeypatch):
    table = Registry("preset")
    table.register("p", {"url": "a"}, model="m")
    monkeypatch.setitem(table, "p", {"url": "b"})
    assert table["p"] == {"url": "b"} and table.metadata("p") == {"model": "m"}
    monkeypatch.undo()
    assert table["p"] == {"url": "a"}
    del table["p"]
    assert "p" not in table


def test_did_you_mean():
    assert did_you_mean("tiny_sd", ["tiny_ssd", "face_ssd"]) == " (did you mean 'tiny_ssd'?)"
    hint = did_you_mean("conv", ["conv_bn", "conv_dw", "branch"], cutoff=0.6)
    assert hint.startswith(" (did you mean ") and "'conv_bn'" in hint and "'conv_dw'" in hint
    assert "branch" not in hint
    assert did_you_mean("zzz", ["voc"]) == ""

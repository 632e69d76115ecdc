"""Spec loading, validation (all errors with YAML paths), overrides and unknown names."""

import textwrap

import pytest
import yaml

import kssd_zoo
from kssd.compat import all_layers
from kssd_zoo.spec import SpecError, apply_overrides, load_spec_file, resolve_spec, spec_path

GOOD = textwrap.dedent(
    """\
    name: mini
    input: {shape: [64, 64, 3], dynamic: false}
    normalization: {scale: 0.00392156862745098}
    num_classes: 2
    class_names: [cat, dog]
    backbone:
      - {name: c1, block: conv_bn, from: input, args: {filters: 8, strides: 2}}
      - {name: c2, block: conv_bn, args: {filters: 8, strides: 2}}
      - {name: c3, block: conv_bn, args: {filters: 8, strides: 2}}
    heads: {block: conv_head, from: [c2, c3]}
    anchors: {steps: [4, 8], min_sizes: [[8, 16], [32]]}
    """
)


def write(tmp_path, text, name="mini.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def errors_of(path):
    with pytest.raises(SpecError) as info:
        kssd_zoo.build(str(path), compile=False)
    return info.value


def test_good_spec_builds_with_defaults(tmp_path):
    model = kssd_zoo.build(str(write(tmp_path, GOOD)), compile=False)
    assert model.output_shape == (None, 16 * 16 * 2 + 8 * 8 * 1, 4 + 2 + 1)
    assert model.anchors.shape == (576, 4)
    spec = model.spec
    assert spec["variances"] == [0.1, 0.2] and spec["match_threshold"] == 0.45
    assert spec["matching"] == "bipartite" and spec["negative_threshold"] is None
    assert (model.matching, model.negative_threshold) == ("bipartite", None)
    assert spec["postprocess"]["iou_threshold"] == 0.45
    assert spec["backbone"][1]["from"] == "c1"  # default: previous node


def test_unknown_block_suggests_close_name(tmp_path):
    err = errors_of(
        write(
            tmp_path,
            GOOD.replace(
                "block: conv_bn, args: {filters: 8, strides: 2}}\n  - {name: c3",
                "block: conv_bnn, args: {filters: 8, strides: 2}}\n  - {name: c3",
            ),
        )
    )
    assert len(err.errors) == 1
    assert err.errors[0].startswith("backbone[1].block (line 8): unknown block 'conv_bnn'")
    assert "did you mean 'conv_bn'" in err.errors[0]
    assert "mini.yaml" in str(err)


def test_dangling_and_forward_from(tmp_path):
    text = GOOD.replace("{name: c2, block: conv_bn,", "{name: c2, block: conv_bn, from: c9,")
    text = text.replace("{name: c3, block: conv_bn,", "{name: c3, block: conv_bn, from: c1x,")
    err = errors_of(write(tmp_path, text))
    assert any(e.startswith("backbone[1].from (line 8): unknown node 'c9'") for e in err.errors), err.errors
    assert any("backbone[2].from" in e and "did you mean 'c1'" in e for e in err.errors), err.errors
    forward = GOOD.replace("{name: c2, block: conv_bn,", "{name: c2, block: conv_bn, from: c3,")
    err = errors_of(write(tmp_path, forward))
    assert "backbone[1].from (line 8): 'c3' is defined later (backbone[2])" in err.errors[0]


def test_level_count_mismatch(tmp_path):
    err = errors_of(write(tmp_path, GOOD.replace("from: [c2, c3]", "from: [c1, c2, c3]")))
    assert err.errors == [
        "heads.from (line 10): names 3 detection levels but anchors.min_sizes defines 2; "
        "give one head input per anchor level"
    ]
    err = errors_of(write(tmp_path, GOOD.replace("steps: [4, 8]", "steps: [4, 8, 16]")))
    assert err.errors == ["anchors.steps (line 11): has 3 levels but anchors.min_sizes has 2"]


def test_wrong_types_collected_together(tmp_path):
    text = GOOD.replace("num_classes: 2", "num_classes: two").replace(
        "filters: 8, strides: 2}}\n  - {name: c2", "filters: 8, strides: two}}\n  - {name: c2"
    )
    text = text.replace("shape: [64, 64, 3]", "shape: [64, 64.5, 3]")
    err = errors_of(write(tmp_path, text))
    joined = "\n".join(err.errors)
    assert (
        "input.shape[1] (line 2): expected a positive int (or null when dynamic), got 64.5 (float)" in joined
    )
    assert "num_classes (line 4): expected an int >= 1, got 'two' (str)" in joined
    assert "backbone[0].args.strides (line 7): expected a number, got 'two' (str)" in joined
    assert len(err.errors) == 3
    assert "(3 errors)" in str(err)


def test_unknown_keys_and_args_suggest(tmp_path):
    text = GOOD.replace("num_classes: 2", "num_clases: 2\nnum_classes: 2")
    text = text.replace("{filters: 8, strides: 2}}\n  - {name: c2", "{filter: 8, strides: 2}}\n  - {name: c2")
    err = errors_of(write(tmp_path, text))
    joined = "\n".join(err.errors)
    assert "num_clases (line 4): unknown key 'num_clases' (did you mean 'num_classes'?)" in joined
    assert (
        "backbone[0].args.filter (line 8): unknown argument 'filter' for conv_bn (did you mean 'filters'?)"
        in joined
    )
    assert "backbone[0].args (line 8): missing required argument 'filters' for conv_bn" in joined


def test_class_names_and_normalization_and_ranges(tmp_path):
    text = GOOD.replace("class_names: [cat, dog]", "class_names: [cat]")
    text = text.replace("normalization: {scale: 0.00392156862745098}", "normalization: {mean: [1, 2, 3]}")
    err = errors_of(write(tmp_path, text + "match_threshold: 1.5\n"))
    joined = "\n".join(err.errors)
    assert "class_names (line 5): has 1 names but num_classes is 2" in joined
    assert "normalization (line 3): expected either the keys mean and std" in joined
    assert "match_threshold (line 12): expected a number > 0 and <= 1, got 1.5" in joined


def test_matching_keys_are_validated_and_reach_the_model(tmp_path):
    text = GOOD + "match_threshold: 0.5\nmatching: forced\nnegative_threshold: 0.3\n"
    model = kssd_zoo.build(str(write(tmp_path, text)), compile=False)
    assert (model.matching, model.negative_threshold) == ("forced", 0.3)
    err = errors_of(
        write(tmp_path, GOOD + "match_threshold: 0.5\nmatching: hungarian\nnegative_threshold: 0.6\n")
    )
    joined = "\n".join(err.errors)
    assert "matching (line 13): expected one of bipartite, forced, got 'hungarian'" in joined
    assert (
        "negative_threshold (line 14): expected None or a number > 0 and <= match_threshold (0.5), got 0.6"
        in joined
    )


def test_dynamic_needs_steps_and_null_sizes(tmp_path):
    text = GOOD.replace("shape: [64, 64, 3], dynamic: false", "shape: [null, 64, 3], dynamic: false")
    err = errors_of(write(tmp_path, text))
    assert err.errors == ["input.shape[0] (line 2): null size needs input.dynamic: true"]


def test_yaml_syntax_error_names_line(tmp_path):
    err = errors_of(
        write(tmp_path, GOOD.replace("heads: {block: conv_head, from: [c2, c3]}", "heads: {block: ["))
    )
    assert "line 12" in err.errors[0] and "YAML syntax error" in err.errors[0]


def test_feature_map_mismatch_is_reported(tmp_path):
    err = errors_of(write(tmp_path, GOOD.replace("steps: [4, 8]", "steps: [8, 16]")))
    assert "anchors.steps: gives feature maps [(8, 8), (4, 4)] at input 64x64" in err.errors[0]
    assert "[(16, 16), (8, 8)]" in err.errors[0]


def test_overrides_applied_before_validation():
    spec = resolve_spec("face_ssd", num_classes=3)
    assert spec["num_classes"] == 3 and spec["class_names"] == ["class_1", "class_2", "class_3"]
    spec = resolve_spec("face_ssd", class_names=["a", "b"])
    assert spec["num_classes"] == 2
    spec = resolve_spec("face_ssd", input_shape=(120, 160), training={"epochs": 3})
    assert spec["input"]["shape"] == [120, 160, 3]
    assert spec["training"]["epochs"] == 3 and spec["training"]["batch_size"] == 32
    with pytest.raises(SpecError, match=r"  - num_classes: expected an int >= 1, got 0 \(int\)"):
        resolve_spec("face_ssd", num_classes=0)
    assert apply_overrides({"a": 1}, b=None) == {"a": 1}


def test_unknown_model_lists_known_ones():
    with pytest.raises(kssd_zoo.UnknownModelError) as info:
        kssd_zoo.build("face_sd")
    message = str(info.value)
    assert "unknown model 'face_sd' (did you mean 'face_ssd'" in message
    for name in kssd_zoo.list_models():
        assert name in message


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        spec_path(str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize("name", kssd_zoo.list_models())
def test_shipped_specs_are_plain_yaml_and_valid(name):
    raw, lines = load_spec_file(spec_path(name))
    assert raw["name"] == name and lines["name"] == 1
    assert yaml.safe_load(yaml.safe_dump(resolve_spec(name))) == resolve_spec(name)


def test_batch_norm_momentum_reaches_every_batch_norm_layer(tmp_path):
    import keras

    model = kssd_zoo.build(
        str(write(tmp_path, GOOD + "training: {batch_norm_momentum: 0.9}\n")), compile=False
    )
    momenta = {
        layer.momentum for layer in all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)
    }
    assert momenta == {0.9}
    default = kssd_zoo.build(str(write(tmp_path, GOOD, "plain.yaml")), compile=False)
    assert {
        layer.momentum for layer in all_layers(default) if isinstance(layer, keras.layers.BatchNormalization)
    } == {0.99}
    error = errors_of(write(tmp_path, GOOD + "training: {batch_norm_momentum: 1.5}\n", "bad.yaml"))
    assert "training.batch_norm_momentum" in str(error) and "<= 1" in str(error)


def test_a_build_validates_the_spec_once(monkeypatch):
    import kssd_zoo.spec as spec_module

    checks = []

    class CountingChecker(spec_module._Checker):
        def __init__(self, *args, **kwargs):
            checks.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(spec_module, "_Checker", CountingChecker)
    model = kssd_zoo.build("tiny_ssd", compile=False)
    assert len(checks) == 1
    kssd_zoo.Detector.from_config(model.get_config())  # a config is untrusted: checked again
    assert len(checks) == 2


@pytest.mark.parametrize("name", kssd_zoo.list_models())
def test_the_typed_spec_holds_the_whole_validated_spec(name):
    from kssd_zoo.spec import parse_spec, resolve_spec

    typed = parse_spec(name)
    assert typed.to_dict() == resolve_spec(name)
    assert parse_spec(typed.to_dict()) == typed
    assert typed.training.optimizer.to_dict() == resolve_spec(name)["training"]["optimizer"]

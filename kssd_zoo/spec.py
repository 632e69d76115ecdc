"""Load and validate YAML detector specs (schema: docs/guides/write_your_own_spec.md).

A spec is validated as a whole before anything is built: every problem found is collected
with its YAML path (and line, when it comes from a file) and one :class:`SpecError` lists
them all. Files are read with ``yaml.safe_load``; nothing is evaluated.

Examples:
    >>> from kssd_zoo.spec import resolve_spec
    >>> spec = resolve_spec("face_ssd", num_classes=2, class_names=["face", "mask"])
    >>> spec["num_classes"], spec["input"]["shape"]
    (2, [240, 320, 3])
"""

import copy
import inspect
import math
import os
import re
from pathlib import Path

import yaml

from kssd.boxes import DEFAULT_MATCH_THRESHOLD, DEFAULT_MATCHING, DEFAULT_VARIANCES
from kssd.boxes.coder import BOX_CODINGS
from kssd.boxes.matcher import matching_problems
from kssd.layers import POSTPROCESS_DEFAULTS
from kssd.models.ssd_detector import default_class_names
from kssd_zoo.optimizers import DEFAULT_LEARNING_RATE, OPTIMIZERS, SCHEDULES
from kssd_zoo.spec_types import ModelSpec

SPECS_DIR = Path(__file__).resolve().parent / "specs"

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MODEL_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
RESERVED_NODE_NAMES = ("input", "image", "normalization", "head", "predictions")

TOP_LEVEL_KEYS = (
    "name",
    "description",
    "input",
    "normalization",
    "num_classes",
    "class_names",
    "backbone",
    "heads",
    "anchors",
    "variances",
    "box_coding",
    "match_threshold",
    "matching",
    "negative_threshold",
    "postprocess",
    "training",
    "pretrained_backbone",
    "license",
    "references",
)
REQUIRED_KEYS = ("name", "input", "num_classes", "backbone", "heads", "anchors")
INPUT_KEYS = ("shape", "dynamic")
NODE_KEYS = ("name", "block", "from", "args")
HEAD_KEYS = ("block", "from", "args")
ANCHOR_KEYS = (
    "steps",
    "min_sizes",
    "feature_sizes",
    "scales",
    "aspect_ratios",
    "extra_box",
    "clip",
    "centers",
)
TRAINING_KEYS = (
    "batch_size",
    "epochs",
    "steps_per_epoch",
    "optimizer",
    "schedule",
    "loss",
    "augmentation",
    "batch_norm_momentum",
)
LOSS_KEYS = ("neg_pos_ratio", "alpha", "min_negatives")
TRAINING_DEFAULTS = {
    "batch_size": 32,
    "epochs": 100,
    "steps_per_epoch": None,
    "optimizer": {"name": "sgd", "momentum": 0.9, "weight_decay": 0.0005},
    "schedule": {"name": "constant", "learning_rate": DEFAULT_LEARNING_RATE},
    "loss": {"neg_pos_ratio": 3},
    "augmentation": "ssd",
}


class SpecError(ValueError):
    """A spec (or override) is invalid; ``errors`` lists every problem as "path: message".

    Examples:
        >>> from kssd_zoo.spec import SpecError
        >>> str(SpecError(["num_classes: expected an int >= 1, got 0"], source="my.yaml"))
        'invalid spec my.yaml (1 error):\\n  - num_classes: expected an int >= 1, got 0'
    """

    def __init__(self, errors, source=None):
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        self.source = source
        where = f" {source}" if source else ""
        count = len(self.errors)
        lines = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(f"invalid spec{where} ({count} error{'s' if count != 1 else ''}):\n{lines}")


# --------------------------------------------------------------------------------------------
# Loading


def spec_names():
    """Names of the specs shipped in ``kssd_zoo/specs`` (sorted).

    Examples:
        >>> from kssd_zoo.spec import spec_names
        >>> "face_ssd" in spec_names()
        True
    """
    return sorted(p.stem for p in SPECS_DIR.glob("*.yaml"))


def _is_path(name_or_path):
    text = str(name_or_path)
    return text.endswith((".yaml", ".yml")) or os.sep in text or "/" in text


def spec_path(name_or_path):
    """Path of a shipped spec by name, or the given path of a YAML file.

    Raises:
        FileNotFoundError: a path that does not exist.
        KeyError: an unknown model name (listing known names and close matches).

    Examples:
        >>> from kssd_zoo.spec import spec_path
        >>> spec_path("tiny_ssd").name
        'tiny_ssd.yaml'
    """
    if isinstance(name_or_path, Path) or _is_path(name_or_path):
        path = Path(name_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"spec file {str(path)!r} does not exist")
        return path
    path = SPECS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        from kssd.registry import did_you_mean

        known = spec_names()
        raise KeyError(
            f"unknown model {name_or_path!r}{did_you_mean(name_or_path, known)}; known models: {', '.join(known)}"
        )
    return path


def _line_map(text):
    """YAML path -> 1-based line of its value, from the composed node tree."""
    lines = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines

    def walk(node, path):
        if node is None:
            return
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = f"{path}.{key.value}" if path else str(key.value)
                lines[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                walk(value, f"{path}[{i}]")

    walk(root, "")
    return lines


def load_spec_file(path):
    """Read a YAML spec file (``yaml.safe_load``) into a dict, unvalidated.

    Returns:
        ``(spec_dict, line_map)``: the line map gives the 1-based line of each YAML path.

    Raises:
        SpecError: YAML syntax errors (with line) or a top level that is not a mapping.

    Examples:
        >>> from kssd_zoo.spec import load_spec_file, spec_path
        >>> spec, lines = load_spec_file(spec_path("face_ssd"))
        >>> spec["name"], lines["name"]
        ('face_ssd', 1)
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise SpecError([f"{where}YAML syntax error: {problem}"], source=str(path)) from None
    if not isinstance(data, dict):
        raise SpecError(
            [f"top level: expected a mapping of spec keys, got {type(data).__name__}"], source=str(path)
        )
    return data, _line_map(text)


# --------------------------------------------------------------------------------------------
# Overrides


def apply_overrides(spec, **overrides):
    """Return a copy of ``spec`` with overrides applied (before validation).

    Args:
        spec: a spec dict.
        **overrides: ``num_classes`` (objects only; class names are regenerated as
            ``class_1...`` unless their count still fits or ``class_names`` is given),
            ``input_shape`` ((H, W) or (H, W, 3)), ``class_names`` (sets num_classes too),
            or any top-level key (``input``, ``postprocess`` and ``training`` are merged key
            by key; other keys are replaced).

    Returns:
        The new spec dict.

    Examples:
        >>> from kssd_zoo.spec import apply_overrides
        >>> apply_overrides({"num_classes": 1, "class_names": ["face"]}, num_classes=2)["class_names"]
        ['class_1', 'class_2']
    """
    spec = copy.deepcopy(spec)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if "input_shape" in overrides:
        shape = list(overrides.pop("input_shape"))
        if len(shape) == 2:
            shape.append(3)
        spec.setdefault("input", {})
        if isinstance(spec["input"], dict):
            spec["input"]["shape"] = shape
        else:
            spec["input"] = {"shape": shape}
    for key, value in overrides.items():
        if (
            key in ("input", "postprocess", "training")
            and isinstance(value, dict)
            and isinstance(spec.get(key), dict)
        ):
            spec[key] = {**spec[key], **copy.deepcopy(value)}
        else:
            spec[key] = copy.deepcopy(value)
    if (
        "class_names" in overrides
        and "num_classes" not in overrides
        and isinstance(overrides["class_names"], (list, tuple))
    ):
        spec["num_classes"] = len(overrides["class_names"])
    if "num_classes" in overrides and "class_names" not in overrides:
        names = spec.get("class_names")
        n = overrides["num_classes"]
        if (
            isinstance(n, int)
            and not isinstance(n, bool)
            and (not isinstance(names, list) or len(names) != n)
        ):
            spec["class_names"] = default_class_names(max(n, 0))
    return spec


# --------------------------------------------------------------------------------------------
# Validation


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _tname(v):
    return "null" if v is None else type(v).__name__


class _Checker:
    def __init__(self, lines):
        self.errors = []
        self.lines = lines or {}

    def err(self, path, message):
        line, parent = self.lines.get(path), path
        while line is None and parent:  # nearest enclosing YAML node with a line
            shorter = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", parent)
            if shorter == parent:
                break
            parent = shorter
            line = self.lines.get(parent)
        where = f"{path} (line {line})" if line is not None else path
        self.errors.append(f"{where}: {message}")

    def keys(self, path, value, allowed, required=()):
        from kssd.registry import did_you_mean

        if not isinstance(value, dict):
            self.err(path, f"expected a mapping, got {_tname(value)}")
            return False
        for key in value:
            if key not in allowed:
                child = f"{path}.{key}" if path else str(key)
                self.err(
                    child, f"unknown key {key!r}{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}"
                )
        for key in required:
            if key not in value:
                self.err(path or "top level", f"missing required key {key!r}")
        return True

    def number(self, path, value, *, low=None, high=None, low_open=False, integer=False, allow_none=False):
        if value is None and allow_none:
            return True
        ok = _is_int(value) if integer else _is_num(value)
        kind = "an int" if integer else "a number"
        if ok and low is not None and (value <= low if low_open else value < low):
            ok = False
        if ok and high is not None and value > high:
            ok = False
        if not ok:
            bounds = ""
            if low is not None:
                bounds += f" {'>' if low_open else '>='} {low}"
            if high is not None:
                bounds += f"{' and' if low is not None else ''} <= {high}"
            self.err(path, f"expected {kind}{bounds}, got {value!r} ({_tname(value)})")
        return ok

    def number_list(self, path, value, *, length=None, positive=False):
        if not isinstance(value, list) or (length is not None and len(value) != length) or not value:
            want = f"a list of {length} numbers" if length else "a non-empty list of numbers"
            self.err(path, f"expected {want}, got {value!r}")
            return False
        ok = True
        for i, v in enumerate(value):
            ok &= self.number(f"{path}[{i}]", v, low=0 if positive else None, low_open=positive)
        return ok


def _check_args(c, path, fn, args, skip):
    """Check a node's args against the builder's keyword parameters."""
    from kssd.registry import did_you_mean

    if args is None:
        args = {}
    if not isinstance(args, dict):
        c.err(path, f"expected a mapping of keyword arguments, got {_tname(args)}")
        return
    params = inspect.signature(fn).parameters
    accepted = [
        n for n, p in params.items() if n not in skip and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    var_kw = any(p.kind == p.VAR_KEYWORD for p in params.values())
    for key, value in args.items():
        if key not in accepted:
            if not var_kw:
                c.err(
                    f"{path}.{key}",
                    f"unknown argument {key!r} for {fn.__name__}{did_you_mean(key, accepted)}; "
                    f"accepted: {', '.join(accepted)}",
                )
            continue
        default = params[key].default
        if default is inspect.Parameter.empty or default is None:
            continue
        if isinstance(default, bool):
            if not isinstance(value, bool):
                c.err(f"{path}.{key}", f"expected true or false, got {value!r} ({_tname(value)})")
        elif isinstance(default, (int, float)):
            ok = _is_num(value) or (isinstance(value, list) and value and all(_is_num(v) for v in value))
            if not ok:
                c.err(f"{path}.{key}", f"expected a number, got {value!r} ({_tname(value)})")
    for n, p in params.items():
        if n in skip or p.kind != p.KEYWORD_ONLY or p.default is not inspect.Parameter.empty:
            continue
        if n not in args:
            c.err(path, f"missing required argument {n!r} for {fn.__name__}")


def _check_input(c, spec):
    value = spec.get("input")
    if not c.keys("input", value, INPUT_KEYS, required=("shape",)):
        return None, False
    dynamic = value.get("dynamic", False)
    if not isinstance(dynamic, bool):
        c.err("input.dynamic", f"expected true or false, got {dynamic!r}")
        dynamic = False
    shape = value.get("shape")
    if not isinstance(shape, list) or len(shape) != 3:
        c.err("input.shape", f"expected [height, width, 3], got {shape!r}")
        return None, dynamic
    ok = True
    for i, v in enumerate(shape[:2]):
        if v is None:
            if not dynamic:
                c.err(f"input.shape[{i}]", "null size needs input.dynamic: true")
                ok = False
        elif not (_is_int(v) and v > 0):
            c.err(
                f"input.shape[{i}]",
                f"expected a positive int (or null when dynamic), got {v!r} ({_tname(v)})",
            )
            ok = False
    if shape[2] != 3:
        c.err("input.shape[2]", f"expected 3 channels (RGB images), got {shape[2]!r}")
        ok = False
    if not ok or shape[0] is None or shape[1] is None:
        return None, dynamic
    return (shape[0], shape[1]), dynamic


def _check_normalization(c, value):
    if value is None:
        return
    if not isinstance(value, dict):
        c.err(
            "normalization", f"expected {{mean: [...], std: [...]}} or {{scale: s, offset: o}}, got {value!r}"
        )
        return
    if set(value) == {"mean", "std"}:
        for key in ("mean", "std"):
            v = value[key]
            if _is_num(v):
                v = [v]
            if not isinstance(v, list) or len(v) not in (1, 3):
                c.err(f"normalization.{key}", f"expected a number or a list of 3 numbers, got {value[key]!r}")
            else:
                c.number_list(f"normalization.{key}", v, positive=key == "std")
    elif "scale" in value and set(value) <= {"scale", "offset"}:
        c.number("normalization.scale", value["scale"])
        offset = value.get("offset", 0.0)
        if not (
            _is_num(offset)
            or (isinstance(offset, list) and len(offset) == 3 and all(_is_num(o) for o in offset))
        ):
            c.err("normalization.offset", f"expected a number or a list of 3 numbers, got {offset!r}")
    else:
        c.err(
            "normalization",
            f"expected either the keys mean and std, or scale (and optional offset); got keys {sorted(value)}",
        )


def _check_backbone(c, value, blocks):
    from kssd.registry import did_you_mean

    if not isinstance(value, list) or not value:
        c.err("backbone", f"expected a non-empty list of nodes, got {_tname(value)}")
        return []
    defined = []
    all_names = {
        n.get("name"): i
        for i, n in enumerate(value)
        if isinstance(n, dict) and isinstance(n.get("name"), str)
    }
    for i, node in enumerate(value):
        path = f"backbone[{i}]"
        if not c.keys(path, node, NODE_KEYS, required=("name", "block")):
            continue
        name = node.get("name")
        if isinstance(name, str):
            if not _NAME_RE.match(name):
                c.err(f"{path}.name", f"{name!r} is not a valid node name (letters, digits, underscores)")
            elif name in RESERVED_NODE_NAMES:
                c.err(
                    f"{path}.name", f"{name!r} is reserved; reserved names: {', '.join(RESERVED_NODE_NAMES)}"
                )
            elif name in defined:
                c.err(
                    f"{path}.name", f"duplicate node name {name!r} (first at backbone[{defined.index(name)}])"
                )
        elif "name" in node:
            c.err(f"{path}.name", f"expected a string, got {name!r} ({_tname(name)})")
        src = node.get("from", defined[-1] if defined else "input")
        sources = src if isinstance(src, list) else [src]
        if not sources or not all(isinstance(s, str) for s in sources):
            c.err(f"{path}.from", f"expected a node name or a list of node names, got {src!r}")
        else:
            for s in sources:
                if s == "input" or s in defined:
                    continue
                if s in all_names and all_names[s] >= i:
                    c.err(
                        f"{path}.from",
                        f"{s!r} is defined later (backbone[{all_names[s]}]); "
                        "a node can only use earlier nodes or 'input'",
                    )
                else:
                    c.err(
                        f"{path}.from",
                        f"unknown node {s!r}{did_you_mean(s, defined + ['input'])}; "
                        "expected 'input' or the name of an earlier node",
                    )
        block = node.get("block")
        if isinstance(block, str) and block in blocks:
            _check_args(c, f"{path}.args", blocks[block], node.get("args"), skip=("inputs", "name"))
        elif isinstance(block, str):
            c.err(f"{path}.block", f"unknown block {block!r}{did_you_mean(block, list(blocks))}")
        elif "block" in node:
            c.err(f"{path}.block", f"expected a block name, got {block!r} ({_tname(block)})")
        if isinstance(name, str):
            defined.append(name)
    return defined


def _anchor_levels(c, anchors):
    """Validate anchors; return (levels, name of the key that defines them) or (None, None)."""
    if not c.keys("anchors", anchors, ANCHOR_KEYS):
        return None, None
    has_sizes, has_scales = "min_sizes" in anchors, "scales" in anchors
    if has_sizes == has_scales:
        c.err("anchors", "give exactly one of min_sizes (pixel sizes) or scales (SSD-paper style)")
        return None, None
    if "steps" not in anchors and "feature_sizes" not in anchors:
        c.err("anchors", "give steps (feature map = ceil(size / step)) and/or feature_sizes")
    if has_sizes:
        sizes = anchors["min_sizes"]
        if not isinstance(sizes, list) or not sizes or not all(isinstance(s, list) and s for s in sizes):
            c.err("anchors.min_sizes", f"expected one non-empty list of sizes per level, got {sizes!r}")
            return None, None
        levels, key = len(sizes), "anchors.min_sizes"
        if "aspect_ratios" in anchors:
            c.err("anchors.aspect_ratios", "only used with scales (SSD-paper style), not with min_sizes")
    else:
        scales = anchors["scales"]
        if not c.number_list("anchors.scales", scales, positive=True) or len(scales) < 2:
            if isinstance(scales, list) and len(scales) < 2:
                c.err("anchors.scales", "needs one more value than levels (at least 2)")
            return None, None
        levels, key = len(scales) - 1, "anchors.scales (levels = len(scales) - 1)"
        ratios = anchors.get("aspect_ratios")
        if ratios is not None:
            if not isinstance(ratios, list) or not all(isinstance(r, list) for r in ratios):
                c.err("anchors.aspect_ratios", f"expected one list of ratios per level, got {ratios!r}")
            elif len(ratios) != levels:
                c.err("anchors.aspect_ratios", f"has {len(ratios)} levels but {key} has {levels}")
            else:
                for k, r in enumerate(ratios):
                    for j, v in enumerate(r):
                        c.number(f"anchors.aspect_ratios[{k}][{j}]", v, low=0, low_open=True)
    for other in ("steps", "feature_sizes"):
        if other in anchors:
            v = anchors[other]
            if not isinstance(v, list):
                c.err(f"anchors.{other}", f"expected a list with one entry per level, got {v!r}")
            elif len(v) != levels:
                c.err(f"anchors.{other}", f"has {len(v)} levels but {key} has {levels}")
    centers = anchors.get("centers")
    if centers is not None and centers not in ("step", "grid"):
        c.err("anchors.centers", f"expected 'step' or 'grid', got {centers!r}")
    elif centers == "step" and "steps" not in anchors:
        c.err("anchors.centers", "'step' centres need anchors.steps")
    for flag in ("extra_box", "clip"):
        if flag in anchors and not isinstance(anchors[flag], bool):
            c.err(f"anchors.{flag}", f"expected true or false, got {anchors[flag]!r}")
    return levels, key


def _check_training(c, value):
    from kssd.registry import did_you_mean

    if value is None:
        return
    if not c.keys("training", value, TRAINING_KEYS):
        return
    for key in ("batch_size", "epochs"):
        if key in value:
            c.number(f"training.{key}", value[key], low=1, integer=True)
    if "steps_per_epoch" in value:
        c.number("training.steps_per_epoch", value["steps_per_epoch"], low=1, integer=True, allow_none=True)
    if "batch_norm_momentum" in value:
        c.number("training.batch_norm_momentum", value["batch_norm_momentum"], low=0, high=1, allow_none=True)
    from kssd.data.augment import AUGMENTATIONS

    if "augmentation" in value and value["augmentation"] not in AUGMENTATIONS:
        c.err(
            "training.augmentation",
            f"expected one of {', '.join(AUGMENTATIONS.names())}, got {value['augmentation']!r}",
        )
    tables = {
        "optimizer": {name: ("name", *OPTIMIZERS.metadata(name)["keys"]) for name in OPTIMIZERS.names()},
        "schedule": {name: ("name", *SCHEDULES.metadata(name)["keys"]) for name in SCHEDULES.names()},
    }
    for key, table in tables.items():
        sub = value.get(key)
        if sub is None:
            continue
        if not isinstance(sub, dict) or "name" not in sub:
            c.err(f"training.{key}", f"expected a mapping with a name ({', '.join(table)}), got {sub!r}")
            continue
        kind = sub["name"]
        if kind not in table:
            c.err(
                f"training.{key}.name",
                f"unknown {key} {kind!r}{did_you_mean(kind, list(table))}; known: {', '.join(table)}",
            )
            continue
        c.keys(f"training.{key}", sub, table[kind])
        for k, v in sub.items():
            if k in ("name",) or k not in table[kind]:
                continue
            if k == "decay_epochs":
                if not isinstance(v, list) or not all(_is_num(e) and e >= 0 for e in v) or v != sorted(v):
                    c.err(f"training.{key}.{k}", f"expected an increasing list of epochs, got {v!r}")
            elif k == "nesterov":
                if not isinstance(v, bool):
                    c.err(f"training.{key}.{k}", f"expected true or false, got {v!r}")
            else:
                c.number(f"training.{key}.{k}", v, low=0)
    loss = value.get("loss")
    if loss is not None and c.keys("training.loss", loss, LOSS_KEYS):
        for k, v in loss.items():
            if k in LOSS_KEYS:
                c.number(f"training.loss.{k}", v, low=0)


def validate_spec(spec, *, source=None, lines=None):
    """Validate a whole spec; return a normalized copy with defaults filled in.

    Args:
        spec: the spec dict (e.g. from YAML, after overrides).
        source: where it came from (file name), used in the error message; default None.
        lines: YAML path -> line map (from :func:`load_spec_file`) for line numbers; default None.

    Returns:
        The validated spec dict (plain YAML types).

    Raises:
        SpecError: listing every problem with its YAML path.

    Examples:
        >>> from kssd_zoo.spec import validate_spec, SpecError
        >>> try:
        ...     validate_spec({"name": "x", "num_classes": 0})
        ... except SpecError as err:
        ...     print(err.errors[0])
        top level: missing required key 'input'
    """
    if isinstance(spec, ModelSpec):  # validated when it was parsed
        return spec.to_dict()
    from kssd.anchors import anchors_per_cell, generate_anchors
    from kssd.registry import did_you_mean
    from kssd_zoo.blocks import registry

    registry._ensure_builtin_blocks()
    c = _Checker(lines)
    if not isinstance(spec, dict):
        raise SpecError([f"top level: expected a mapping, got {_tname(spec)}"], source=source)
    c.keys("", spec, TOP_LEVEL_KEYS, required=REQUIRED_KEYS)

    name = spec.get("name")
    if "name" in spec and not (isinstance(name, str) and _MODEL_NAME_RE.match(name)):
        c.err("name", f"expected a snake_case model name, got {name!r}")
    for key in ("description", "license"):
        if key in spec and not isinstance(spec[key], str):
            c.err(key, f"expected a string, got {_tname(spec[key])}")
    image_size, dynamic = _check_input(c, spec) if "input" in spec else (None, False)
    _check_normalization(c, spec.get("normalization"))

    num_classes = spec.get("num_classes")
    if "num_classes" in spec:
        c.number("num_classes", num_classes, low=1, integer=True)
    class_names = spec.get("class_names")
    if class_names is not None:
        if not isinstance(class_names, list) or not all(isinstance(n, str) and n for n in class_names):
            c.err("class_names", f"expected a list of non-empty strings, got {class_names!r}")
        elif _is_int(num_classes) and len(class_names) != num_classes:
            c.err(
                "class_names",
                f"has {len(class_names)} names but num_classes is {num_classes} "
                "(num_classes counts objects only; background is class 0 and is not listed)",
            )
        elif len(set(class_names)) != len(class_names):
            c.err("class_names", f"names must be unique, got {class_names!r}")

    defined = _check_backbone(c, spec.get("backbone"), registry.BLOCKS) if "backbone" in spec else []

    levels, level_key = (None, None)
    if "anchors" in spec:
        levels, level_key = _anchor_levels(c, spec["anchors"])
        anchors = spec["anchors"]
        if levels is not None and dynamic and isinstance(anchors, dict):
            if "feature_sizes" in anchors or "steps" not in anchors:
                c.err(
                    "anchors",
                    "a dynamic spec needs anchors.steps (and no feature_sizes) so anchors follow the input size",
                )

    heads = spec.get("heads")
    if "heads" in spec and c.keys("heads", heads, HEAD_KEYS, required=("block", "from")):
        block = heads.get("block")
        if isinstance(block, str) and block in registry.HEADS:
            _check_args(
                c,
                "heads.args",
                registry.HEADS[block],
                heads.get("args"),
                skip=("features", "anchors_per_cell", "num_logits", "name"),
            )
        elif "block" in heads:
            c.err("heads.block", f"unknown head {block!r}{did_you_mean(block, list(registry.HEADS))}")
        src = heads.get("from")
        if "from" in heads:
            if not isinstance(src, list) or not src or not all(isinstance(s, str) for s in src):
                c.err("heads.from", f"expected a list of node names, one per detection level, got {src!r}")
            else:
                for i, s in enumerate(src):
                    if s not in defined:
                        c.err(f"heads.from[{i}]", f"unknown node {s!r}{did_you_mean(s, defined)}")
                if levels is not None and len(src) != levels:
                    c.err(
                        "heads.from",
                        f"names {len(src)} detection levels but {level_key} defines {levels}; "
                        "give one head input per anchor level",
                    )

    variances = spec.get("variances", list(DEFAULT_VARIANCES))
    c.number_list("variances", variances, length=2, positive=True)
    if "box_coding" in spec and spec["box_coding"] not in BOX_CODINGS:
        c.err("box_coding", f"expected one of {', '.join(BOX_CODINGS)}, got {spec['box_coding']!r}")
    match_threshold = spec.get("match_threshold", DEFAULT_MATCH_THRESHOLD)
    matching = spec.get("matching", DEFAULT_MATCHING)
    negative = spec.get("negative_threshold")
    for key, message in matching_problems(matching, match_threshold, negative):
        c.err(key, message)
    post = spec.get("postprocess")
    if post is not None and c.keys("postprocess", post, tuple(POSTPROCESS_DEFAULTS)):
        for key in ("score_threshold", "iou_threshold"):
            if key in post:
                c.number(f"postprocess.{key}", post[key], low=0, high=1)
        for key in ("max_detections", "max_detections_per_class"):
            if key in post:
                c.number(
                    f"postprocess.{key}",
                    post[key],
                    low=1,
                    integer=True,
                    allow_none=key == "max_detections_per_class",
                )
    _check_training(c, spec.get("training"))
    if "pretrained_backbone" in spec and spec["pretrained_backbone"] not in registry.PRETRAINED:
        pb = spec["pretrained_backbone"]
        c.err(
            "pretrained_backbone",
            f"unknown pretrained backbone {pb!r}"
            f"{did_you_mean(str(pb), list(registry.PRETRAINED))}; known: {', '.join(sorted(registry.PRETRAINED))}",
        )
    if source and Path(str(source)).resolve().parent == SPECS_DIR and isinstance(name, str):
        if Path(str(source)).stem != name:
            c.err("name", f"{name!r} must equal the file name {Path(str(source)).stem!r}")

    # Anchors as a whole (catches anything kssd.anchors rejects).
    if not c.errors and isinstance(spec.get("anchors"), dict):
        args = dict(spec["anchors"])
        try:
            anchors_per_cell(
                min_sizes=args.get("min_sizes"),
                scales=args.get("scales"),
                aspect_ratios=args.get("aspect_ratios"),
                extra_box=args.get("extra_box", True),
            )
            if image_size is not None:
                generate_anchors(image_size, **args)
        except (ValueError, TypeError) as err:
            c.err("anchors", str(err))

    if c.errors:
        raise SpecError(c.errors, source=source)

    out = copy.deepcopy(spec)
    out.setdefault("description", "")
    out["input"] = {"shape": list(spec["input"]["shape"]), "dynamic": dynamic}
    out.setdefault("normalization", None)
    if class_names is None:
        out["class_names"] = default_class_names(num_classes)
    out["variances"] = [float(v) for v in variances]
    out["match_threshold"] = float(match_threshold)
    out["matching"] = matching
    out["negative_threshold"] = None if negative is None else float(negative)
    out["postprocess"] = {**POSTPROCESS_DEFAULTS, **(post or {})}
    training = copy.deepcopy(TRAINING_DEFAULTS)
    training.update(copy.deepcopy(spec.get("training") or {}))
    out["training"] = training
    heads_out = dict(spec["heads"])
    heads_out["args"] = dict(heads_out.get("args") or {})
    out["heads"] = heads_out
    nodes = []
    previous = "input"
    for node in spec["backbone"]:
        node = dict(node)
        node.setdefault("from", previous)
        node["args"] = dict(node.get("args") or {})
        nodes.append(node)
        previous = node["name"]
    out["backbone"] = nodes
    return out


def resolve_spec(name_or_spec, **overrides):
    """Load (by shipped name, YAML path or dict), apply overrides, validate.

    Args:
        name_or_spec: a shipped model name, a path to a YAML file, or a spec dict.
        **overrides: see :func:`apply_overrides`.

    Returns:
        The validated spec dict.

    Raises:
        SpecError: invalid spec (all problems listed, with YAML paths and lines).
        KeyError: unknown model name (listing known names).

    Examples:
        >>> from kssd_zoo.spec import resolve_spec
        >>> resolve_spec("vgg16_ssd300")["num_classes"]
        20
    """
    if isinstance(name_or_spec, dict):
        spec, lines, source = name_or_spec, None, None
    else:
        path = spec_path(name_or_spec)
        spec, lines = load_spec_file(path)
        source = str(path)
    if overrides:
        spec = apply_overrides(spec, **overrides)
        if lines:  # overridden values did not come from the file: drop their line numbers
            touched = {"input" if k == "input_shape" else k for k, v in overrides.items() if v is not None}
            if "num_classes" in touched or "class_names" in touched:
                touched |= {"num_classes", "class_names"}
            lines = {p: n for p, n in lines.items() if re.split(r"[.\[]", p, maxsplit=1)[0] not in touched}
    return validate_spec(spec, source=source, lines=lines)


def parse_spec(name_or_spec, **overrides):
    """Load, override and validate a spec once; return its typed form.

    Args:
        name_or_spec: a shipped model name, a path to a YAML file, a spec dict, or a
            :class:`~kssd_zoo.spec_types.ModelSpec` (returned as is without overrides: it
            was validated when it was parsed).
        **overrides: see :func:`apply_overrides`.

    Returns:
        A :class:`kssd_zoo.spec_types.ModelSpec`.

    Raises:
        SpecError: invalid spec (all problems listed, with YAML paths and lines).
        KeyError: unknown model name (listing known names).

    Examples:
        >>> from kssd_zoo.spec import parse_spec
        >>> spec = parse_spec("tiny_ssd", num_classes=2)
        >>> spec.num_classes, spec.input.dynamic
        (2, True)
        >>> parse_spec(spec) is spec
        True
    """
    if isinstance(name_or_spec, ModelSpec):
        if not overrides:
            return name_or_spec
        name_or_spec = name_or_spec.to_dict()
    return ModelSpec.from_validated(resolve_spec(name_or_spec, **overrides))

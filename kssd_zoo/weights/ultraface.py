"""Import the released UltraFace ONNX models into kssd ``ultraface_slim`` / ``ultraface_rfb``.

The converter reads the ONNX graph with ``onnx`` and pairs its convolutions with the Keras
layers **by structure**, never by name:

* Head convolutions are found by following each convolution's output through
  ``Transpose(0, 2, 3, 1)`` -> ``Reshape`` -> the final ``Concat``: the input position in that
  concat is the level, and the concat feeding ``Softmax`` is classification (the other one is
  regression). A separable head's depthwise convolution is the one feeding it through a ReLU.
* Every other convolution belongs to the backbone and is taken in graph order, which is
  PyTorch's execution order; the Keras side lists its layers in the same order from the spec
  (:func:`kssd_zoo.blocks.ultraface.weight_units`).

Each pair is checked (depthwise or not, stride, dilation, kernel shape) before any weight is
assigned; the first mismatch raises a ``ValueError`` naming the Keras layer, the ONNX
initializer and both shapes. Kernels go OIHW -> HWIO (depthwise: (C*m, 1, kh, kw) ->
(kh, kw, C, m)).

Batch norm: the released ``version-*.onnx`` and ``*_without_postprocessing.onnx`` files keep
``BatchNormalization`` nodes (epsilon 1e-5), which map one to one onto the Keras BN layers
(gamma, beta, moving mean, moving variance). The ``*_simplified.onnx`` files have BN folded into
the convolution biases; those load too, as a BN layer set to the identity plus the bias
(``gamma = 1, beta = 0, mean = -bias, variance = 1 - epsilon``), which reproduces the folded
network to float rounding. A Keras conv with bias and no BN receives a BN folded into it.

Examples:
    >>> from kssd_zoo.weights.ultraface import read_onnx_convs
    >>> callable(read_onnx_convs)
    True
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kssd_zoo.blocks.ultraface import weight_units


@dataclass
class OnnxConv:
    """One ONNX ``Conv`` node with its weights and an optional following ``BatchNormalization``."""

    index: int
    name: str  # the weight initializer's name (PyTorch module path in the released files)
    weight: np.ndarray  # OIHW
    bias: np.ndarray | None
    group: int
    strides: tuple
    dilations: tuple
    pads: tuple
    bn: dict | None = None
    input: str = ""
    output: str = ""
    head: tuple | None = field(default=None)  # (level, role) for head convolutions

    @property
    def depthwise(self):
        return self.group > 1

    def describe(self):
        return f"ONNX conv #{self.index} {self.name!r} (OIHW {tuple(self.weight.shape)})"


def _require_onnx():
    try:
        import onnx  # noqa: F401
        from onnx import numpy_helper  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "importing UltraFace .onnx weights needs the `onnx` package: pip install onnx"
        ) from err
    return onnx


def read_onnx_convs(path):
    """Read the convolutions of an UltraFace ONNX file, split into backbone and heads.

    Args:
        path: ``.onnx`` file (any of the released UltraFace variants).

    Returns:
        ``(backbone, heads)``: ``backbone`` a list of :class:`OnnxConv` in graph order;
        ``heads`` a dict ``(level, "cls" | "reg") -> [OnnxConv, ...]`` (depthwise then
        pointwise for a separable head, one conv for a plain head).

    Raises:
        ValueError: the graph is not shaped like UltraFace (no head found, unexpected
            transpose), naming the file.

    Examples:
        >>> from kssd_zoo.weights.ultraface import read_onnx_convs
        >>> read_onnx_convs.__name__
        'read_onnx_convs'
    """
    onnx = _require_onnx()
    from onnx import numpy_helper

    path = Path(path)
    model = onnx.load(str(path))
    graph = model.graph
    arrays = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    arrays[node.output[0]] = numpy_helper.to_array(attr.t)
    consumers, producer = {}, {}
    for node in graph.node:
        for t in node.input:
            consumers.setdefault(t, []).append(node)
        for t in node.output:
            producer[t] = node

    def attrs(node):
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    convs, by_output = [], {}
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        a = attrs(node)
        weight = arrays.get(node.input[1])
        if weight is None:
            raise ValueError(f"{path}: Conv node {node.name or node.output[0]!r} has no constant weight")
        bias = arrays.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        conv = OnnxConv(
            index=len(convs),
            name=node.input[1],
            weight=weight.astype("float32"),
            bias=None if bias is None else bias.astype("float32"),
            group=int(a.get("group", 1)),
            strides=tuple(a.get("strides", (1, 1))),
            dilations=tuple(a.get("dilations", (1, 1))),
            pads=tuple(a.get("pads", (0, 0, 0, 0))),
            input=node.input[0],
            output=node.output[0],
        )
        users = consumers.get(node.output[0], [])
        if len(users) == 1 and users[0].op_type == "BatchNormalization":
            bn = users[0]
            scale, beta, mean, var = (arrays[t].astype("float32") for t in bn.input[1:5])
            conv.bn = {
                "gamma": scale,
                "beta": beta,
                "mean": mean,
                "var": var,
                "epsilon": float(attrs(bn).get("epsilon", 1e-5)),
            }
            conv.output = bn.output[0]
        convs.append(conv)
        by_output[conv.output] = conv

    # Heads: conv -> Transpose(0,2,3,1) -> Reshape -> final Concat (position = level).
    heads = {}
    for conv in convs:
        users = consumers.get(conv.output, [])
        if len(users) != 1 or users[0].op_type != "Transpose":
            continue
        perm = list(attrs(users[0]).get("perm", []))
        if perm != [0, 2, 3, 1]:
            raise ValueError(
                f"{path}: head {conv.describe()} is transposed with perm {perm}, expected "
                "[0, 2, 3, 1] (NCHW -> NHWC, anchors row-major)"
            )
        reshape = _single_user(consumers, users[0].output[0], "Reshape")
        concat = _single_user(consumers, reshape.output[0] if reshape else None, "Concat")
        if concat is None:
            raise ValueError(f"{path}: head {conv.describe()} does not reach a Concat via Reshape")
        level = list(concat.input).index(reshape.output[0])
        role = "cls" if _reaches(consumers, concat.output[0], "Softmax") else "reg"
        chain = [conv]
        # Walk back over an exclusive Relu -> depthwise Conv (separable head).
        prev = producer.get(conv.input)
        if prev is not None and prev.op_type == "Relu" and len(consumers[prev.output[0]]) == 1:
            dw = by_output.get(prev.input[0])
            if dw is not None and dw.depthwise and len(consumers[dw.output]) == 1:
                chain.insert(0, dw)
        for c in chain:
            c.head = (level, role)
        if (level, role) in heads:
            raise ValueError(f"{path}: two heads found for level {level} {role}")
        heads[(level, role)] = chain
    if not heads:
        raise ValueError(f"{path}: no detection head found (Conv -> Transpose -> Reshape -> Concat)")
    backbone = [c for c in convs if c.head is None]
    return backbone, heads


def _single_user(consumers, tensor, op_type):
    """The one consumer of ``tensor`` of type ``op_type`` (``Shape`` users are ignored)."""
    if tensor is None:
        return None
    users = [n for n in consumers.get(tensor, []) if n.op_type != "Shape"]
    if len(users) == 1 and users[0].op_type == op_type:
        return users[0]
    return None


def _reaches(consumers, tensor, op_type, depth=3):
    for node in consumers.get(tensor, []):
        if node.op_type == op_type:
            return True
        if depth > 1 and any(_reaches(consumers, t, op_type, depth - 1) for t in node.output):
            return True
    return False


def _keras_units(model):
    """Ordered Keras (conv, bn) layer pairs of the backbone, and the head pairs per (level, role)."""
    spec = getattr(model, "spec", None)
    if not isinstance(spec, dict) or "backbone" not in spec:
        raise TypeError(
            "UltraFace weights load into a kssd_zoo Detector built from the ultraface_slim or "
            f"ultraface_rfb spec; got {type(model).__name__} without a `spec`"
        )
    backbone = []
    for i, node in enumerate(spec["backbone"]):
        try:
            backbone += weight_units(node["block"], node["name"], **(node.get("args") or {}))
        except KeyError as err:
            raise ValueError(
                f"backbone[{i}] ({node['name']!r}): {err.args[0]}; UltraFace ONNX weights only "
                "load into networks made of ultraface_* blocks"
            ) from None
    heads_spec = spec["heads"]
    head_name = _head_name(model, heads_spec)
    try:
        head_units = weight_units(
            heads_spec["block"],
            head_name,
            num_levels=len(heads_spec["from"]),
            **(heads_spec.get("args") or {}),
        )
    except KeyError as err:
        raise ValueError(f"heads.block: {err.args[0]}") from None
    heads = {(level, role): pairs for level, role, pairs in head_units}
    return backbone, heads


def _head_name(model, heads_spec):
    """The name prefix the builder gave the head (found from the model's layer names)."""
    names = {layer.name for layer in model.layers}
    for candidate in (heads_spec.get("name"), "head", "heads"):
        if candidate and ({f"{candidate}_cls0_dw", f"{candidate}_cls0_conv"} & names):
            return candidate
    for name in names:
        for suffix in ("_cls0_dw", "_cls0_conv"):
            if name.endswith(suffix):
                return name[: -len(suffix)]
    raise ValueError("could not find the ultraface_head layers (`*_cls0_dw` / `*_cls0_conv`) in the model")


def _onnx_kernel_to_keras(conv):
    w = conv.weight
    if conv.depthwise:
        out_ch, _, kh, kw = w.shape
        mult = out_ch // conv.group
        return w.reshape(conv.group, mult, kh, kw).transpose(2, 3, 0, 1)
    return w.transpose(2, 3, 1, 0)


def _plan_pair(model, conv_name, bn_name, conv):
    """Arrays to assign for one (Keras conv[, BN]) <- ONNX conv pair, after all checks."""
    import keras

    layer = model.get_layer(conv_name)
    is_dw = isinstance(layer, keras.layers.DepthwiseConv2D)
    where = f"layer {conv_name!r}"
    if is_dw != conv.depthwise:
        kind = "depthwise" if is_dw else "regular"
        other = "depthwise" if conv.depthwise else "regular"
        raise ValueError(
            f"{where} is a {kind} convolution (kernel {tuple(layer.kernel.shape)}) but "
            f"{conv.describe()} is {other}: the ONNX file is for another architecture"
        )
    kernel = _onnx_kernel_to_keras(conv)
    expected = tuple(layer.kernel.shape)
    if tuple(kernel.shape) != expected:
        raise ValueError(
            f"{where}: kernel shape {expected} does not match {conv.describe()} -> HWIO "
            f"{tuple(kernel.shape)}: the ONNX file is for another architecture"
        )
    strides, dilation = tuple(layer.strides), tuple(layer.dilation_rate)
    if strides != tuple(conv.strides) or dilation != tuple(conv.dilations):
        raise ValueError(
            f"{where}: strides {strides} / dilation {dilation} differ from {conv.describe()} "
            f"strides {conv.strides} / dilation {conv.dilations}"
        )
    out_ch = kernel.shape[-2] * kernel.shape[-1] if is_dw else kernel.shape[-1]
    bias = conv.bias if conv.bias is not None else np.zeros(out_ch, "float32")
    plan = []
    if bn_name is not None:
        bn_layer = model.get_layer(bn_name)
        eps = float(bn_layer.epsilon)
        if conv.bn is not None:
            b = conv.bn
            # Keras: gamma * (x - mean') / sqrt(var' + eps') + beta, same value when
            # var' + eps' = var + eps; a conv bias moves into the mean.
            gamma, beta = b["gamma"], b["beta"]
            mean = b["mean"] - bias
            var = b["var"] + np.float32(b["epsilon"] - eps)
        else:  # folded (simplified) file: identity BN carrying the bias
            gamma = np.ones(out_ch, "float32")
            beta = np.zeros(out_ch, "float32")
            mean = -bias
            var = np.full(out_ch, 1.0 - eps, "float32")
        conv_weights = [kernel] + ([np.zeros(out_ch, "float32")] if layer.use_bias else [])
        plan.append((layer, conv_weights))
        bn_weights = [w for w, use in ((gamma, bn_layer.scale), (beta, bn_layer.center)) if use]
        if not bn_layer.scale and not np.allclose(gamma, 1.0):
            raise ValueError(f"layer {bn_name!r} has scale=False but the ONNX BN gamma is not 1")
        plan.append((bn_layer, bn_weights + [mean, var]))
    else:
        if conv.bn is not None:  # fold the ONNX BN into the Keras conv
            b = conv.bn
            factor = b["gamma"] / np.sqrt(b["var"] + np.float32(b["epsilon"]))
            kernel = kernel * (factor.reshape(kernel.shape[-2], kernel.shape[-1]) if is_dw else factor)
            bias = (bias - b["mean"]) * factor + b["beta"]
        if layer.use_bias:
            plan.append((layer, [kernel.astype("float32"), bias.astype("float32")]))
        else:
            if np.any(bias != 0):
                raise ValueError(f"{where} has no bias but {conv.describe()} needs one")
            plan.append((layer, [kernel.astype("float32")]))
    for target, values in plan:
        shapes = [tuple(v.shape) for v in target.weights]
        if shapes != [tuple(v.shape) for v in values]:
            raise ValueError(
                f"layer {target.name!r}: weight shapes {shapes} do not match the converted "
                f"{[tuple(v.shape) for v in values]} from {conv.describe()}"
            )
    return plan


def convert_ultraface(model, path):
    """Load an UltraFace ``.onnx`` file into an ``ultraface_slim`` / ``ultraface_rfb`` Detector.

    Args:
        model: a kssd_zoo ``Detector`` built from an UltraFace spec (any ``num_classes`` that
            matches the file: the released files have 1 face class, i.e. 2 logits).
        path: the ``.onnx`` file (``version-slim-320.onnx``, ``version-RFB-320.onnx``,
            ``version-RFB-640.onnx`` or their ``_simplified`` / ``_without_postprocessing``
            variants).

    Returns:
        ``model``, with all convolution and batch-norm weights replaced.

    Raises:
        ValueError: the file does not fit the model; the message names the first mismatching
            Keras layer, the ONNX initializer and both shapes. Nothing is assigned then.

    Examples:
        >>> from kssd_zoo.weights.ultraface import convert_ultraface
        >>> convert_ultraface.__name__
        'convert_ultraface'
    """
    onnx_backbone, onnx_heads = read_onnx_convs(path)
    keras_backbone, keras_heads = _keras_units(model)

    plan = []
    for i, (conv_name, bn_name) in enumerate(keras_backbone):
        if i >= len(onnx_backbone):
            raise ValueError(
                f"layer {conv_name!r} has no counterpart: {path} has only {len(onnx_backbone)} "
                f"backbone convolutions, the model has {len(keras_backbone)}"
            )
        plan += _plan_pair(model, conv_name, bn_name, onnx_backbone[i])
    if len(onnx_backbone) > len(keras_backbone):
        extra = onnx_backbone[len(keras_backbone)]
        raise ValueError(
            f"{path} has {len(onnx_backbone)} backbone convolutions, the model only "
            f"{len(keras_backbone)}: first unmatched is {extra.describe()}"
        )
    if set(onnx_heads) != set(keras_heads):
        raise ValueError(
            f"head levels differ: model has {sorted(keras_heads)}, {path} has {sorted(onnx_heads)}"
        )
    for key in sorted(keras_heads):
        pairs, chain = keras_heads[key], onnx_heads[key]
        if len(pairs) != len(chain):
            kinds = "separable" if len(chain) == 2 else "plain 3x3"
            raise ValueError(
                f"layer {pairs[0][0]!r}: head level {key[0]} {key[1]} is {kinds} in {path} "
                f"({', '.join(c.describe() for c in chain)}) but has {len(pairs)} conv(s) in the model"
            )
        for (conv_name, bn_name), conv in zip(pairs, chain):
            plan += _plan_pair(model, conv_name, bn_name, conv)
    for layer, values in plan:
        layer.set_weights(values)
    return model


__all__ = ["OnnxConv", "convert_ultraface", "read_onnx_convs"]

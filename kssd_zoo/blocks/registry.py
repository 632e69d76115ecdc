"""Registries of the block and head builders that YAML specs refer to by name.

A **block builder** turns one node of a spec's ``backbone`` into Keras layers::

    def block(inputs, *, name: str, **args) -> KerasTensor

``inputs`` is one KerasTensor, or a list of them when the node's ``from`` is a list. Every
layer the builder creates is named ``f"{name}_..."`` so that weights map by name.

A **head builder** turns the detection-level feature maps into per-anchor outputs::

    def head(features, anchors_per_cell, num_logits, *, name: str, **args) -> (locs, logits)

with ``locs`` (B, A, 4) and ``logits`` (B, A, num_logits), concatenated level by level in the
anchor contract order (DESIGN.md section 2).

Examples:
    >>> from kssd_zoo.blocks.registry import get_block, list_blocks
    >>> "conv_bn" in list_blocks()
    True
    >>> get_block("conv_bn").__name__
    'conv_bn'
"""

import difflib

_BLOCKS = {}
_HEADS = {}


class UnknownBlockError(KeyError):
    """Raised by :func:`get_block` / :func:`get_head` for a name nobody registered."""

    def __str__(self):  # KeyError quotes its message; show it plainly.
        return str(self.args[0]) if self.args else ""


def suggest(name, candidates, n=3):
    """Close matches of ``name`` among ``candidates`` (difflib), as a " (did you mean ...)" hint.

    Args:
        name: the misspelt name.
        candidates: known names.
        n: at most this many suggestions, default 3.

    Returns:
        ``" (did you mean 'a' or 'b'?)"``, or ``""`` when nothing is close.

    Examples:
        >>> from kssd_zoo.blocks.registry import suggest
        >>> suggest("conv_dws", ["conv_dw", "conv_bn", "branch"])
        " (did you mean 'conv_dw'?)"
    """
    matches = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=n, cutoff=0.7)
    if not matches:
        return ""
    return " (did you mean " + " or ".join(repr(m) for m in matches) + "?)"


def _register(table, kind, name):
    if not isinstance(name, str) or not name:
        raise ValueError(f"a {kind} name must be a non-empty string, got {name!r}")

    def decorator(fn):
        if name in table and table[name] is not fn:
            old = table[name]
            raise ValueError(f"{kind} {name!r} is already registered by {old.__module__}.{old.__qualname__}")
        table[name] = fn
        return fn

    return decorator


def _ensure_builtin_blocks():
    # Importing the package registers the built-in families (common, vgg, mobilenetv2, ...).
    import kssd_zoo.blocks  # noqa: F401


def register_block(name):
    """Decorator registering a block builder under ``name`` (used as ``block:`` in specs).

    Args:
        name: the name specs use; must be unique.

    Returns:
        The decorator; it returns the function unchanged.

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.registry import register_block, get_block
        >>> @register_block("doc_identity")
        ... def doc_identity(inputs, *, name):
        ...     return keras.layers.Identity(name=f"{name}_identity")(inputs)
        >>> get_block("doc_identity") is doc_identity
        True
    """
    return _register(_BLOCKS, "block", name)


def register_head(name):
    """Decorator registering a head builder under ``name`` (used as ``heads.block`` in specs).

    Args:
        name: the name specs use; must be unique.

    Returns:
        The decorator; it returns the function unchanged.

    Examples:
        >>> from kssd_zoo.blocks.registry import get_head
        >>> get_head("conv_head").__name__
        'conv_head'
    """
    return _register(_HEADS, "head", name)


def _lookup(table, kind, name):
    _ensure_builtin_blocks()
    if name not in table:
        raise UnknownBlockError(
            f"unknown {kind} {name!r}{suggest(name, table)}; known {kind}s: {', '.join(sorted(table))}"
        )
    return table[name]


def get_block(name):
    """The block builder registered as ``name``.

    Raises:
        UnknownBlockError: naming the close matches among the registered blocks.

    Examples:
        >>> from kssd_zoo.blocks.registry import get_block
        >>> get_block("conv_dw").__name__
        'conv_dw'
    """
    return _lookup(_BLOCKS, "block", name)


def get_head(name):
    """The head builder registered as ``name``.

    Raises:
        UnknownBlockError: naming the close matches among the registered heads.

    Examples:
        >>> from kssd_zoo.blocks.registry import get_head
        >>> get_head("separable_head").__name__
        'separable_head'
    """
    return _lookup(_HEADS, "head", name)


def list_blocks():
    """Sorted names of the registered block builders.

    Examples:
        >>> from kssd_zoo.blocks.registry import list_blocks
        >>> "inverted_residual" in list_blocks()
        True
    """
    _ensure_builtin_blocks()
    return sorted(_BLOCKS)


def list_heads():
    """Sorted names of the registered head builders.

    Examples:
        >>> from kssd_zoo.blocks.registry import list_heads
        >>> "conv_head" in list_heads()
        True
    """
    _ensure_builtin_blocks()
    return sorted(_HEADS)


_PRETRAINED = {}


def register_pretrained(name):
    """Decorator registering a backbone weight-transfer function under ``name``.

    A spec names it with the top-level key ``pretrained_backbone: <name>``; then
    ``kssd_zoo.build(spec, backbone_weights="imagenet" | path)`` calls
    ``fn(detector, weights=backbone_weights)``.

    Examples:
        >>> from kssd_zoo.blocks.registry import get_pretrained
        >>> get_pretrained("vgg16").__name__
        'load_vgg16_backbone'
    """
    return _register(_PRETRAINED, "pretrained backbone", name)


def get_pretrained(name):
    """The backbone weight-transfer function registered as ``name``.

    Raises:
        UnknownBlockError: naming close matches.

    Examples:
        >>> from kssd_zoo.blocks.registry import get_pretrained
        >>> get_pretrained("mobilenetv2").__name__
        'load_mobilenetv2_backbone'
    """
    _ensure_builtin_blocks()
    if name not in _PRETRAINED:
        raise UnknownBlockError(
            f"unknown pretrained backbone {name!r}{suggest(name, _PRETRAINED)}; "
            f"known: {', '.join(sorted(_PRETRAINED))}"
        )
    return _PRETRAINED[name]


def list_pretrained():
    """Sorted names of the registered backbone weight-transfer functions.

    Examples:
        >>> from kssd_zoo.blocks.registry import list_pretrained
        >>> list_pretrained()[:2]
        ['mobilenetv2', 'vgg16']
    """
    _ensure_builtin_blocks()
    return sorted(_PRETRAINED)

"""Registries of the block and head builders that YAML specs refer to by name.

A **block builder** turns one node of a spec's ``backbone`` into Keras layers::

    def block(inputs, *, name: str, **args) -> KerasTensor

``inputs`` is one KerasTensor, or a list of them when the node's ``from`` is a list. Every
layer the builder creates is named ``f"{name}_..."`` so that weights map by name.

A **head builder** turns the detection-level feature maps into per-anchor outputs::

    def head(features, anchors_per_cell, num_logits, *, name: str, **args) -> (locs, logits)

with ``locs`` (B, A, 4) and ``logits`` (B, A, num_logits), concatenated level by level in the
anchor contract order (the Contracts table of docs/index.md).

Examples:
    >>> from kssd_zoo.blocks.registry import get_block, list_blocks
    >>> "conv_bn" in list_blocks()
    True
    >>> get_block("conv_bn").__name__
    'conv_bn'
"""

from kssd.registry import Registry, UnknownNameError


class UnknownBlockError(UnknownNameError):
    """Raised by :func:`get_block` / :func:`get_head` / :func:`get_pretrained` for a name nobody
    registered (a ``KeyError`` and a ``ValueError``, see :class:`kssd.registry.UnknownNameError`)."""


def _ensure_builtin_blocks():
    # Importing the package registers the built-in families (common, vgg, mobilenetv2, ...).
    import kssd_zoo.blocks  # noqa: F401


#: Block builders by spec name (``block:`` of a backbone node).
BLOCKS = Registry("block", error=UnknownBlockError, loader=_ensure_builtin_blocks)
#: Head builders by spec name (``heads.block``).
HEADS = Registry("head", error=UnknownBlockError, loader=_ensure_builtin_blocks)
#: Backbone weight-transfer functions by spec name (``pretrained_backbone``).
PRETRAINED = Registry("pretrained backbone", error=UnknownBlockError, loader=_ensure_builtin_blocks)


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
    return BLOCKS.register(name)


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
    return HEADS.register(name)


def get_block(name):
    """The block builder registered as ``name``.

    Raises:
        UnknownBlockError: naming the close matches among the registered blocks.

    Examples:
        >>> from kssd_zoo.blocks.registry import get_block
        >>> get_block("conv_dw").__name__
        'conv_dw'
    """
    return BLOCKS.get(name)


def get_head(name):
    """The head builder registered as ``name``.

    Raises:
        UnknownBlockError: naming the close matches among the registered heads.

    Examples:
        >>> from kssd_zoo.blocks.registry import get_head
        >>> get_head("separable_head").__name__
        'separable_head'
    """
    return HEADS.get(name)


def list_blocks():
    """Sorted names of the registered block builders.

    Examples:
        >>> from kssd_zoo.blocks.registry import list_blocks
        >>> "inverted_residual" in list_blocks()
        True
    """
    return BLOCKS.names()


def list_heads():
    """Sorted names of the registered head builders.

    Examples:
        >>> from kssd_zoo.blocks.registry import list_heads
        >>> "conv_head" in list_heads()
        True
    """
    return HEADS.names()


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
    return PRETRAINED.register(name)


def get_pretrained(name):
    """The backbone weight-transfer function registered as ``name``.

    Raises:
        UnknownBlockError: naming close matches.

    Examples:
        >>> from kssd_zoo.blocks.registry import get_pretrained
        >>> get_pretrained("mobilenetv2").__name__
        'load_mobilenetv2_backbone'
    """
    return PRETRAINED.get(name)


def list_pretrained():
    """Sorted names of the registered backbone weight-transfer functions.

    Examples:
        >>> from kssd_zoo.blocks.registry import list_pretrained
        >>> list_pretrained()[:2]
        ['mobilenetv2', 'vgg16']
    """
    return PRETRAINED.names()

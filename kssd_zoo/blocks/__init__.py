"""Block and head builders for YAML specs; importing this package registers them all.

Examples:
    >>> from kssd_zoo.blocks import list_blocks
    >>> {"conv_bn", "conv_dw", "branch"} <= set(list_blocks())
    True
"""

import importlib

from kssd_zoo.blocks import common, mobilenetv2, vgg  # noqa: F401,E402
from kssd_zoo.blocks.registry import (  # noqa: F401
    get_block,
    get_head,
    list_blocks,
    list_heads,
    register_block,
    register_head,
)

# Families written by other modules register themselves when present.
for _family in ("ultraface", "blazeface"):
    try:
        importlib.import_module(f"kssd_zoo.blocks.{_family}")
    except ModuleNotFoundError as _err:
        if _err.name != f"kssd_zoo.blocks.{_family}":
            raise

__all__ = ["get_block", "get_head", "list_blocks", "list_heads", "register_block", "register_head"]

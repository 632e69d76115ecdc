"""Generated datasets that need no download.

Examples:
    >>> from kssd_zoo.datasets import CLASS_NAMES, shapes
    >>> CLASS_NAMES
    ['circle', 'square', 'triangle']
"""

from kssd_zoo.datasets.shapes import CLASS_NAMES, generate_image, shapes, shapes_dataset

__all__ = ["CLASS_NAMES", "generate_image", "shapes", "shapes_dataset"]

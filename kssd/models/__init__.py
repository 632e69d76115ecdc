"""The detector contract: :class:`SSDDetector`, a ``keras.Model`` that owns its anchors,
matching settings, prediction decoder and normalization (``fit`` -> raw, ``predict`` -> boxes)."""

from kssd.models.ssd_detector import SSDDetector

__all__ = ["SSDDetector"]

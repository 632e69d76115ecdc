"""Losses for SSD detectors.

Examples:
    >>> from kssd.losses import SSDLoss
    >>> SSDLoss(neg_pos_ratio=3).get_config()["neg_pos_ratio"]
    3
"""

from kssd.losses.ssd_loss import SSDLoss, ssd_loss_components

__all__ = ["SSDLoss", "ssd_loss_components"]

"""Losses for SSD detectors."""

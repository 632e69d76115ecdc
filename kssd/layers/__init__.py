"""Keras layers for SSD detectors."""

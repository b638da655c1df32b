"""Alignment, change detection, typing, confidence, the good-set model and the detectors."""

"""Shipped ONNX models of the detector plugins (reproduced by ``inspection train ...``)."""

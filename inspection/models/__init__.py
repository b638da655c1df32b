"""Shipped model files (data): fitted scorers, ONNX models."""

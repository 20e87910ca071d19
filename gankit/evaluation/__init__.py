"""Evaluation: metrics and their feature extractors, ``gankit eval``, and the quality
monitors that run as training callbacks."""

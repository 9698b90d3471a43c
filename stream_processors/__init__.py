"""Faust stream processors: verify, enroll and model-reload slices."""

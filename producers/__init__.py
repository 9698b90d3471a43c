"""Gate-camera and enrollment producers."""

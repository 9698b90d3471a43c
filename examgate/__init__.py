"""ExamGate: real-time face verification for exam check-in."""

__version__ = "0.1.0"

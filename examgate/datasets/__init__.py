"""Readers of the offline face datasets (LFW) used for calibration, benchmarks and simulation."""

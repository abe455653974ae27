"""Scoring of anomaly detectors on the Numenta Anomaly Benchmark (NAB v1.1), written from its description."""

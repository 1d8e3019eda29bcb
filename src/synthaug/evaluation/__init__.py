"""Metrics, statistics, fidelity of synthetic data, reports and figures."""

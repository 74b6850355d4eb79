"""Evaluation: gold question sets through the real ask path, BEIR retrieval runs, metrics."""

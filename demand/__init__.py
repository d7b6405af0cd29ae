"""Demand for data: catalogue mirror, dataset requests, signals, official answers, reports."""

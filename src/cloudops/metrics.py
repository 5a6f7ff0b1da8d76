"""Prometheus metrics: every metric name cloudops exports, declared once."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = ["DEAD_LETTERS", "FILES", "RETRIES", "ROWS", "STAGE_SECONDS"]

FILES = Counter("cloudops_files_total", "Billing files by stage outcome.", ["stage", "outcome"])
ROWS = Counter("cloudops_rows_total", "Billing rows by outcome (read, converted, rejected, landed).", ["outcome"])
DEAD_LETTERS = Counter("cloudops_dead_letters_total", "Records sent to a DLQ.", ["topic", "error_kind"])
RETRIES = Counter("cloudops_retries_total", "Transient failures retried.", ["operation"])
STAGE_SECONDS = Histogram(
    "cloudops_stage_seconds",
    "Time spent per file in a stage.",
    ["stage"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)

"""Prometheus metrics: every metric name cloudops exports, declared once."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "API_AUTH_FAILURES",
    "API_REQUESTS",
    "API_SECONDS",
    "API_SUBSCRIBERS",
    "BACKPRESSURE_SECONDS",
    "CONSUMER_LAG",
    "CONSUMER_TOPIC_LAG",
    "DEAD_LETTERS",
    "END_TO_END_SECONDS",
    "EVENT_LOOP_LAG_SECONDS",
    "FILES",
    "PERIODS",
    "PULL_REQUESTS",
    "RECOMMENDATIONS_FOUND",
    "RECOMMENDATION_TO_PR_SECONDS",
    "RETRIES",
    "ROWS",
    "STAGE_SECONDS",
]

FILES = Counter("cloudops_files_total", "Billing files by stage outcome.", ["stage", "outcome"])
ROWS = Counter("cloudops_rows_total", "Billing rows by outcome (read, converted, rejected, landed).", ["outcome"])
DEAD_LETTERS = Counter("cloudops_dead_letters_total", "Records sent to a DLQ.", ["topic", "error_kind"])
RETRIES = Counter("cloudops_retries_total", "Transient failures retried.", ["operation"])
BACKPRESSURE_SECONDS = Counter(
    "cloudops_backpressure_seconds_total", "Time a stage held its output because the next stage lagged.", ["stage"]
)
STAGE_SECONDS = Histogram(
    "cloudops_stage_seconds",
    "Time spent per file in a stage.",
    ["stage"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
PERIODS = Counter("cloudops_period_versions_total", "Period versions swapped in (or failed verification).", ["outcome"])
END_TO_END_SECONDS = Histogram(
    "cloudops_end_to_end_seconds",
    "From the billing object's creation (event time) to its rows being queryable (receipt or period swap).",
    ["kind"],
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 7200),
)
CONSUMER_LAG = Gauge(
    "cloudops_consumer_lag_messages",
    "Messages not yet processed, per consumer group, topic and partition (end offset - committed offset).",
    ["group", "topic", "partition"],
)
CONSUMER_TOPIC_LAG = Gauge(
    "cloudops_consumer_group_lag_messages",
    "Messages not yet processed per consumer group and topic (the partitions summed: what KEDA's Kafka scaler reads).",
    ["group", "topic"],
)
EVENT_LOOP_LAG_SECONDS = Gauge(
    "cloudops_event_loop_heartbeat_age_seconds",
    "Seconds since the worker's event loop last ran its heartbeat (liveness fails above health.max_loop_lag_s).",
)
RECOMMENDATIONS_FOUND = Counter(
    "cloudops_recommendations_total", "Recommendations published, by recommender.", ["kind"]
)
PULL_REQUESTS = Counter(
    "cloudops_pull_requests_total", "Pull request outcomes (created, updated, unchanged, not addressable).", ["outcome"]
)
RECOMMENDATION_TO_PR_SECONDS = Histogram(
    "cloudops_recommendation_to_pr_seconds",
    "From a recommendation being found (after a load) to its pull request opened or updated.",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
API_REQUESTS = Counter(
    "cloudops_api_requests_total", "API requests by method, route and status.", ["method", "route", "status"]
)
API_SECONDS = Histogram(
    "cloudops_api_request_seconds",
    "API request latency by route.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
API_AUTH_FAILURES = Counter(
    "cloudops_api_auth_failures_total", "Requests refused by authentication or authorisation, by reason.", ["reason"]
)
API_SUBSCRIBERS = Gauge("cloudops_api_subscribers", "Live GraphQL subscriptions (WebSocket clients) of this replica.")

"""Topic declarations (each once, with a versioned schema and a DLQ twin), codecs, runtime."""

from cloudops.topics.specs import (
    ALL_TOPICS,
    BILLING_FILES,
    BILLING_LOADED,
    FOCUS_BATCHES,
    TopicSpec,
    json_schemas,
)

__all__ = ["ALL_TOPICS", "BILLING_FILES", "BILLING_LOADED", "FOCUS_BATCHES", "TopicSpec", "json_schemas"]

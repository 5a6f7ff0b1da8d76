"""Wire records: the value schemas of every topic, versioned, exported as JSON Schema."""

from cloudops.schemas.events import (
    BillingFile,
    BillingLoaded,
    DeadLetter,
    FocusBatchEnvelope,
    Provider,
    RejectedRow,
    Trigger,
    file_id_for,
)

__all__ = [
    "BillingFile",
    "BillingLoaded",
    "DeadLetter",
    "FocusBatchEnvelope",
    "Provider",
    "RejectedRow",
    "Trigger",
    "file_id_for",
]

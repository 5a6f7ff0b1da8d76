"""The three kinds of failure, and how a worker treats each.

* :class:`BadDataError` - the input is wrong; retrying cannot help. The message goes to
  its topic's dead-letter queue at once, with the original bytes and the reason.
* :class:`TransientError` - something outside us failed (object store 5xx, broker,
  ClickHouse unavailable). Retried with bounded exponential backoff, then dead-lettered.
* anything else is a bug. It is dead-lettered with kind ``bug`` (so the data is never
  silently dropped) and logged with its traceback.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "BadDataError",
    "CloudopsError",
    "ConfigError",
    "ErrorKind",
    "ObjectSupersededError",
    "TransientError",
    "classify",
    "describe",
]

ErrorKind = Literal["bad_data", "transient", "bug"]


class CloudopsError(Exception):
    """Base class of every error cloudops raises on purpose."""


class ConfigError(CloudopsError):
    """The settings or a command line are wrong."""


class BadDataError(CloudopsError):
    """The input cannot be processed as it is; never retried.

    ``source`` names the file or message, ``reason`` says what is wrong in one line.
    """

    def __init__(self, reason: str, *, source: str | None = None) -> None:
        self.reason = reason
        self.source = source
        super().__init__(f"{source}: {reason}" if source else reason)


class ObjectSupersededError(BadDataError):
    """The announced object version was overwritten before it was read.

    Not a failure: the newer version is announced by its own event or listing and is
    ingested then. The announced version is recorded as rejected (superseded), with no
    dead letter.
    """


class TransientError(CloudopsError):
    """A dependency failed in a way that may succeed if tried again later."""


def classify(exc: BaseException) -> ErrorKind:
    """Map an exception to its error kind."""
    if isinstance(exc, BadDataError):
        return "bad_data"
    if isinstance(exc, TransientError | ConnectionError | TimeoutError):
        return "transient"
    return "bug"


def describe(exc: BaseException) -> str:
    """The one-line reason recorded for a failure: a BadDataError's reason, else the type and message."""
    return exc.reason if isinstance(exc, BadDataError) else f"{type(exc).__name__}: {exc}"

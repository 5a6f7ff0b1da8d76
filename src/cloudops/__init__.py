"""cloudops: a multi-cloud FinOps pipeline (billing exports -> FOCUS -> Kafka -> ClickHouse)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cloudops")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

"""Embedded stand-ins for local runs and tests: real engines on loopback, started on demand.

* :class:`~cloudops.embedded.broker.EmbeddedBroker` - noida-db's Kafka-wire broker
* :class:`~cloudops.embedded.objectstore.EmbeddedObjectStore` - moto's S3 + SQS server

and the demo data shipped with the package (``embedded/samples``, see its NOTICE.md):
:func:`samples_dir` (the sample bills), :func:`compute_sample_files` (the synthetic
compute bills, one per month), :func:`terraform_sample_repo` and
:func:`terraform_sample_state` (the Terraform repository whose resources those bills
charge). The helpers only build paths (no I/O, nothing raised); the package must be
installed as files (pip always does), not imported from a zip. Treat the returned
folders as read-only: copy the Terraform repository before editing it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = [
    "COMPUTE_SAMPLE_MONTHS",
    "compute_sample_files",
    "samples_dir",
    "terraform_sample_repo",
    "terraform_sample_state",
]

COMPUTE_SAMPLE_MONTHS = ("2023-09", "2023-10", "2023-11")
"""Billing months of the compute sample bills: the demo recommends on the last, the others are history."""


def samples_dir() -> Path:
    """The folder of the shipped sample data (``cloudops/embedded/samples``)."""
    return Path(str(resources.files("cloudops.embedded") / "samples"))


def compute_sample_files() -> list[Path]:
    """The synthetic AWS CUR files of the Terraform sample's resources, oldest month first."""
    return [samples_dir() / f"aws-cur-compute-{month}.csv" for month in COMPUTE_SAMPLE_MONTHS]


def terraform_sample_repo() -> Path:
    """The sample Terraform configuration (root module; ``modules/rds`` inside)."""
    return samples_dir() / "terraform" / "repo"


def terraform_sample_state() -> Path:
    """The Terraform state (format version 4, JSON) of :func:`terraform_sample_repo`."""
    return samples_dir() / "terraform" / "terraform.tfstate"

"""A local GitHub-compatible REST API ("forge") backed by real bare git repositories.

* :class:`LocalForge` - the server (127.0.0.1 only), repositories, fault injection, diff helpers,
  GitHub Apps (``register_app`` / ``install_app``: the installation-token flow of GitHub Apps),
  pull-request merges and repository webhooks (``pull_request`` events POSTed to the hooks, signed;
  ``hook_deliveries`` lists what each hook answered)
* :class:`BareRepository` - git plumbing on one bare repository (the ``git`` CLI)

Run it from another process with ``python -m cloudops.embedded.forge --repo-dir D --token T``.
"""

from __future__ import annotations

from cloudops.embedded.forge.git import BareRepository, CommitInfo, GitError, GitIdentity
from cloudops.embedded.forge.server import FaultKind, LocalForge, PullDiff, RecordedRequest

__all__ = [
    "BareRepository",
    "CommitInfo",
    "FaultKind",
    "GitError",
    "GitIdentity",
    "LocalForge",
    "PullDiff",
    "RecordedRequest",
]

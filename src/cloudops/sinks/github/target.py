"""Where pull requests go: an API endpoint, the credentials to use on it (a token or a GitHub App
installation), and a repository on it.

Pure values (frozen dataclasses); constructing one validates it and raises
:class:`~cloudops.errors.ConfigError` for a malformed base URL, token, App or repository name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cloudops.errors import ConfigError

__all__ = ["GITHUB_API_URL", "AppInstallation", "GitHubTarget", "RepoRef"]

GITHUB_API_URL = "https://api.github.com"
"""github.com's REST API root. GitHub Enterprise Server: ``https://<host>/api/v3``."""

_OWNER_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_REPO_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


@dataclass(frozen=True)
class RepoRef:
    """A repository on the forge: ``owner/name``."""

    owner: str
    name: str

    def __post_init__(self) -> None:
        if not _OWNER_RE.fullmatch(self.owner):
            raise ConfigError(f"invalid GitHub owner {self.owner!r}")
        if not _REPO_RE.fullmatch(self.name) or self.name in (".", ".."):
            raise ConfigError(f"invalid GitHub repository name {self.name!r}")

    @classmethod
    def parse(cls, full_name: str) -> RepoRef:
        """``"owner/name"`` -> RepoRef; ConfigError otherwise."""
        owner, sep, name = full_name.strip().partition("/")
        if not sep:
            raise ConfigError(f"repository must be written owner/name, got {full_name!r}")
        return cls(owner, name.removesuffix(".git"))

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def __str__(self) -> str:
        return self.full_name


@dataclass(frozen=True)
class AppInstallation:
    """A GitHub App installation as credentials: the App signs a JWT with ``private_key`` and trades
    it for a short-lived installation token (githubkit's app-installation auth). The key never
    appears in ``repr``."""

    app_id: int
    installation_id: int
    private_key: str = field(repr=False)

    def __post_init__(self) -> None:
        if self.app_id <= 0 or self.installation_id <= 0:
            raise ConfigError(f"GitHub App id and installation id must be positive, got {self}")
        if "PRIVATE KEY-----" not in self.private_key:
            raise ConfigError(f"GitHub App {self.app_id}: the private key is not a PEM private key")


@dataclass(frozen=True)
class GitHubTarget:
    """A GitHub (or GitHub Enterprise Server, or compatible forge) REST API root, credentials and a repository.

    ``base_url`` is the API root: ``https://api.github.com``, ``https://ghe.example.com/api/v3``
    or a local forge's ``http://127.0.0.1:<port>``. ``auth`` is a token or an App installation;
    neither appears in ``repr``.
    """

    base_url: str
    auth: str | AppInstallation = field(repr=False)
    owner: str
    repo: str

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ConfigError(f"GitHub base URL must be http(s)://host[/path], got {self.base_url!r}")
        if isinstance(self.auth, str) and (not self.auth or any(c.isspace() for c in self.auth)):
            raise ConfigError("GitHub token is empty or contains whitespace")
        RepoRef(self.owner, self.repo)  # validates both names

    @property
    def repo_ref(self) -> RepoRef:
        return RepoRef(self.owner, self.repo)

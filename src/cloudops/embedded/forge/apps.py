"""GitHub Apps on the local forge: registered Apps, their installations, installation access tokens.

The flow is GitHub's (and what githubkit's ``AppInstallationAuthStrategy`` does): the App signs a
short-lived JWT (RS256, ``iss`` = App id) with its private key and exchanges it at
``POST /app/installations/{installation_id}/access_tokens`` for an installation token
(``ghs_...``, one hour). The forge verifies the JWT with the public key the App was registered
with, and a request carrying an installation token acts as ``<slug>[bot]`` on the repositories the
installation covers only (any other repository answers 404, as on GitHub).

Apps, installations and issued tokens are kept in ``<root>/_apps.json``, so a restarted forge
still knows them.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
from aiohttp import web

from cloudops.embedded.forge import payloads as p
from cloudops.embedded.forge.base import ForgeBase, _ApiError, _json, _Principal, _stable_int

__all__ = ["AppRoutes"]

_TOKEN_TTL_S = 3600
_JWT_MAX_LIFETIME_S = 600  # GitHub refuses an App JWT whose exp is more than 10 minutes after iat
_LEEWAY_S = 60  # clock drift GitHub tolerates on iat / exp
_DOC = "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app"
_PERMISSIONS = {"contents": "write", "pull_requests": "write", "issues": "write", "metadata": "read"}


@dataclass
class _App:
    app_id: int
    slug: str
    public_key: str = field(repr=False)
    installations: dict[str, list[str]] = field(default_factory=dict)  # id -> lower-case owner/name


@dataclass
class _Registry:
    apps: dict[str, _App] = field(default_factory=dict)
    tokens: dict[str, tuple[int, float]] = field(default_factory=dict)  # token -> (installation id, expiry)


def _unauthorized(message: str) -> _ApiError:
    return _ApiError(401, p.basic_error(message, 401, _DOC))


class AppRoutes(ForgeBase):
    """Register Apps, install them on repositories, and serve the installation-token exchange."""

    _registry: _Registry | None = None

    # -- public ---------------------------------------------------------------------------------

    def register_app(self, public_key_pem: str | bytes, *, slug: str = "cloudops") -> int:
        """Register a GitHub App by the PEM public key of its signing key; returns its App id."""
        pem = public_key_pem.decode() if isinstance(public_key_pem, bytes) else public_key_pem
        with self._lock:
            registry = self._apps_registry()
            app_id = _stable_int("app", slug, pem, len(registry.apps))
            registry.apps[str(app_id)] = _App(app_id, slug, pem)
            self._save_apps()
        return app_id

    def install_app(self, app_id: int, *repositories: str) -> int:
        """Install App ``app_id`` on ``owner/name`` repositories; returns the installation id.
        KeyError for an unknown App."""
        with self._lock:
            registry = self._apps_registry()
            app = registry.apps[str(app_id)]
            installation_id = _stable_int("installation", app_id, *repositories, len(app.installations))
            app.installations[str(installation_id)] = sorted({r.lower() for r in repositories})
            self._save_apps()
        return installation_id

    # -- authentication -------------------------------------------------------------------------

    def _installation_principal(self, token: str) -> _Principal | None:
        """The principal of a valid installation token, None for anything else."""
        with self._lock:
            registry = self._apps_registry()
            found = registry.tokens.get(token)
            if found is None or found[1] <= time.time():
                return None
            for app in registry.apps.values():
                repositories = app.installations.get(str(found[0]))
                if repositories is not None:
                    return _Principal(f"{app.slug}[bot]", frozenset(repositories))
        return None

    def _verify_app_jwt(self, request: web.Request) -> _App:
        """The App whose private key signed the request's bearer JWT; 401 as GitHub answers otherwise."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise _unauthorized("A JSON web token could not be decoded")
        token = value.strip()
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise _unauthorized("A JSON web token could not be decoded") from None
        with self._lock:
            app = self._apps_registry().apps.get(str(unverified.get("iss")))
        if app is None:
            raise _unauthorized("'Issuer' claim ('iss') must be the id of a registered GitHub App")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                app.public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"]},
                leeway=_LEEWAY_S,
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("'Expiration time' claim ('exp') must be a numeric value in the future") from None
        except jwt.ImmatureSignatureError:
            raise _unauthorized("'Issued at' claim ('iat') must be a numeric value in the past") from None
        except jwt.InvalidTokenError:
            raise _unauthorized("A JSON web token could not be decoded") from None
        if int(claims["exp"]) - int(claims["iat"]) > _JWT_MAX_LIFETIME_S + _LEEWAY_S:
            raise _unauthorized("'Expiration time' claim ('exp') is too far in the future")
        return app

    # -- routes ---------------------------------------------------------------------------------

    async def _create_installation_token(self, request: web.Request) -> web.StreamResponse:
        try:
            app = self._verify_app_jwt(request)
            installation_id = request.match_info["installation_id"]
            repositories = app.installations.get(installation_id)
            if repositories is None:  # unknown, or another App's installation
                raise _ApiError(404, p.basic_error("Not Found", 404, _DOC))
        except _ApiError as exc:
            return _json(exc.status, exc.body, exc.headers)
        token = "ghs_" + secrets.token_hex(18)
        expires = int(time.time()) + _TOKEN_TTL_S
        with self._lock:
            registry = self._apps_registry()
            now = time.time()
            registry.tokens = {t: v for t, v in registry.tokens.items() if v[1] > now}  # drop expired ones
            registry.tokens[token] = (int(installation_id), float(expires))
            self._save_apps()
        body = {
            "token": token,
            "expires_at": datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "permissions": _PERMISSIONS,
            "repository_selection": "selected",
        }
        return _json(201, body)

    def _app_routes(self) -> list[tuple[str, str, Any]]:
        """The App routes (aiohttp handlers: they authenticate with the App's JWT themselves)."""
        return [("POST", r"/app/installations/{installation_id:\d+}/access_tokens", self._create_installation_token)]

    # -- storage --------------------------------------------------------------------------------

    def _apps_registry(self) -> _Registry:
        if self._registry is None:
            path = self.root / "_apps.json"
            registry = _Registry()
            if path.exists():
                doc = json.loads(path.read_text())
                registry.apps = {k: _App(**v) for k, v in doc.get("apps", {}).items()}
                registry.tokens = {k: (int(v[0]), float(v[1])) for k, v in doc.get("tokens", {}).items()}
            self._registry = registry
        return self._registry

    def _save_apps(self) -> None:
        registry = self._apps_registry()
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "_apps.json"
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        doc = {"apps": {k: asdict(v) for k, v in registry.apps.items()}, "tokens": registry.tokens}
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
        os.replace(tmp, path)

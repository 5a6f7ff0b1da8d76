"""A faithful fake of OCI Object Storage's REST API (20160918), for the ``oci`` SDK over HTTP on 127.0.0.1.

Only what cloudops calls, with the shapes of Oracle's API reference
(docs.oracle.com/iaas/api/#/en/objectstorage/20160918/):

* ``GET /n/{namespaceName}/b/{bucketName}/o`` (ListObjects): ``prefix``, ``start``, ``limit``
  (default 1000), ``fields`` (``name`` always; ``size``, ``etag``, ``timeCreated``, ``md5`` when
  asked); body ``{"objects": [...], "prefixes": [], "nextStartWith": ...}``;
* ``GET /n/{namespaceName}/b/{bucketName}/o/{objectName}`` (GetObject): the bytes with ``ETag``,
  ``Content-Length``, ``Content-MD5``, ``Last-Modified`` and ``opc-request-id``; ``If-Match``
  honoured (412 ``IfMatchFailed``).

Every request must carry an OCI API-key signature (``Authorization: Signature version="1",
keyId="<tenancy>/<user>/<fingerprint>",algorithm="rsa-sha256",headers="date (request-target)
host",signature=...``), verified against the registered public key: 401 ``NotAuthenticated``
otherwise. Cross-tenancy usage reports: the bucket named by a tenancy OCID in namespace ``bling``
is readable only with a key of that tenancy; any other bucket a key cannot read answers 404
``BucketNotFound`` ("does not exist ... or you are not authorized"), as OCI does. Errors are
``{"code", "message"}`` JSON with an ``opc-request-id`` header.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import json
import re
import threading
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cloudops.embedded.net import free_port

__all__ = ["ApiKey", "FakeOciObjectStorage", "new_api_key"]

_SIG = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class ApiKey:
    """An OCI API signing key of one user of one tenancy (what ``~/.oci/config`` names)."""

    tenancy: str
    user: str
    fingerprint: str
    private_pem: str = field(repr=False)
    public_pem: str

    def config(self, region: str = "us-ashburn-1") -> dict[str, str]:
        """The SDK config / credentials document of this key."""
        return {
            "tenancy": self.tenancy,
            "user": self.user,
            "fingerprint": self.fingerprint,
            "key_content": self.private_pem,
            "region": region,
        }


def new_api_key(tenancy: str) -> ApiKey:
    """A fresh 2048-bit RSA key pair for a user of ``tenancy``, fingerprinted like OCI (MD5 of the DER)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashlib.md5(der).hexdigest()
    return ApiKey(
        tenancy=tenancy,
        user=f"ocid1.user.oc1..{uuid.uuid4().hex}",
        fingerprint=":".join(digest[i : i + 2] for i in range(0, 32, 2)),
        private_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        public_pem=key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
    )


@dataclass
class _Object:
    data: bytes
    etag: str
    md5: str
    created: datetime


class FakeOciObjectStorage:
    """The fake server (a thread of the test process) and its state."""

    def __init__(self) -> None:
        self.port = 0
        self.requests: list[tuple[str, str]] = []  # (method, path?query), for assertions
        self._keys: dict[str, ApiKey] = {}
        self._buckets: dict[tuple[str, str], dict[str, _Object]] = {}
        self._owners: dict[tuple[str, str], str] = {}  # bucket -> tenancy that may read it
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def register_key(self, key: ApiKey) -> None:
        self._keys[f"{key.tenancy}/{key.user}/{key.fingerprint}"] = key

    def create_bucket(self, namespace: str, bucket: str, *, readable_by: str) -> None:
        """A bucket readable by keys of tenancy ``readable_by`` (Oracle's ``bling`` bucket: the tenancy itself)."""
        with self._lock:
            self._buckets.setdefault((namespace, bucket), {})
            self._owners[(namespace, bucket)] = readable_by

    def put(self, namespace: str, bucket: str, name: str, data: bytes) -> str:
        """Write (or overwrite) an object as Oracle would; returns its new ETag."""
        etag = str(uuid.uuid4())
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        with self._lock:
            self._buckets[(namespace, bucket)][name] = _Object(data, etag, md5, datetime.now(UTC))
        return etag

    def start(self) -> Self:
        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        threading.Thread(target=self._server.serve_forever, name="fake-oci", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling (called from the handler thread) ------------------------------------

    def authenticate(self, method: str, target: str, headers: Any) -> ApiKey | None:
        auth = headers.get("authorization", "")
        if not auth.startswith("Signature "):
            return None
        params = dict(_SIG.findall(auth))
        key = self._keys.get(params.get("keyId", ""))
        if key is None or params.get("algorithm") != "rsa-sha256" or params.get("version") != "1":
            return None
        lines = []
        for name in params.get("headers", "date").split():
            if name == "(request-target)":
                lines.append(f"(request-target): {method.lower()} {target}")
            else:
                value = headers.get(name)
                if value is None:
                    return None
                lines.append(f"{name}: {value}")
        public = serialization.load_pem_public_key(key.public_pem.encode())
        assert isinstance(public, rsa.RSAPublicKey)
        try:
            public.verify(
                base64.b64decode(params.get("signature", "")),
                "\n".join(lines).encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            return None
        return key

    def bucket_for(self, key: ApiKey, namespace: str, bucket: str) -> dict[str, _Object] | None:
        with self._lock:
            found = self._buckets.get((namespace, bucket))
            if found is None or self._owners.get((namespace, bucket)) != key.tenancy:
                return None
            return found


def _handler(fake: FakeOciObjectStorage) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _error(self, status: int, code: str, message: str) -> None:
            body = json.dumps({"code": code, "message": message}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("opc-request-id", uuid.uuid4().hex)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            fake.requests.append(("GET", self.path))
            key = fake.authenticate("GET", self.path, self.headers)
            if key is None:
                self._error(
                    401,
                    "NotAuthenticated",
                    "The required information to complete authentication was not provided or was incorrect.",
                )
                return
            url = urllib.parse.urlsplit(self.path)
            parts = url.path.split("/", 6)
            # ['', 'n', ns, 'b', bucket, 'o', name?]
            if len(parts) < 6 or parts[1] != "n" or parts[3] != "b" or parts[5] != "o":
                self._error(404, "NotAuthorizedOrNotFound", f"Unknown resource {url.path}")
                return
            namespace, bucket = urllib.parse.unquote(parts[2]), urllib.parse.unquote(parts[4])
            objects = fake.bucket_for(key, namespace, bucket)
            if objects is None:
                self._error(
                    404,
                    "BucketNotFound",
                    f"Either the bucket named '{bucket}' does not exist in the namespace '{namespace}' or you are "
                    "not authorized to access it",
                )
                return
            if len(parts) == 6 or not parts[6]:
                self._list(objects, urllib.parse.parse_qs(url.query))
            else:
                self._get(objects, urllib.parse.unquote(parts[6]), bucket)

        def _list(self, objects: dict[str, _Object], query: dict[str, list[str]]) -> None:
            prefix = query.get("prefix", [""])[0]
            start = query.get("start", [""])[0]
            limit = int(query.get("limit", ["1000"])[0])
            fields = set(query.get("fields", ["name"])[0].split(",")) | {"name"}
            with fake._lock:
                names = sorted(n for n in objects if n.startswith(prefix) and n >= start)
                page, rest = names[:limit], names[limit:]
                out = []
                for name in page:
                    obj = objects[name]
                    full = {
                        "name": name,
                        "size": len(obj.data),
                        "etag": obj.etag,
                        "md5": obj.md5,
                        "timeCreated": obj.created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    }
                    out.append({k: v for k, v in full.items() if k in fields})
            doc: dict[str, Any] = {"objects": out, "prefixes": []}
            if rest:
                doc["nextStartWith"] = rest[0]
            body = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("opc-request-id", uuid.uuid4().hex)
            self.end_headers()
            self.wfile.write(body)

        def _get(self, objects: dict[str, _Object], name: str, bucket: str) -> None:
            with fake._lock:
                obj = objects.get(name)
            if obj is None:
                self._error(404, "ObjectNotFound", f"The object '{name}' was not found in the bucket '{bucket}'")
                return
            if_match = self.headers.get("if-match")
            if if_match is not None and if_match.strip('"') != obj.etag:
                self._error(
                    412,
                    "IfMatchFailed",
                    "The If-Match header's value did not match the entity tag of the object.",
                )
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(obj.data)))
            self.send_header("ETag", obj.etag)
            self.send_header("Content-MD5", obj.md5)
            self.send_header("Last-Modified", email.utils.format_datetime(obj.created, usegmt=True))
            self.send_header("opc-request-id", uuid.uuid4().hex)
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(obj.data)

    return Handler

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

Instance principals (what ``oci.auth.signers.InstancePrincipalsSecurityTokenSigner`` calls), on the
same server:

* the instance metadata service v2 (``OCI_METADATA_BASE_URL`` = ``<endpoint>/opc/v2``; every call
  needs ``Authorization: Bearer Oracle``, else 401): ``GET /instance/region`` (the short region
  name), ``/identity/cert.pem`` (the instance's leaf certificate, subject
  ``OU=opc-tenant:<tenancy>``, ``OU=opc-instance:<id>``), ``/identity/key.pem`` (its private key),
  ``/identity/intermediate.pem`` (the issuing CA);
* the Auth Service federation endpoint ``POST /v1/x509``: body ``{"certificate", "publicKey",
  "intermediateCertificates"}`` (base64 DER without PEM armour), signed with the leaf key, keyId
  ``<tenancy>/fed-x509/<SHA-1 fingerprint of the leaf>``; the leaf must be issued by a trusted
  intermediate (401 ``NotAuthenticated`` otherwise); answers ``{"token": <JWT>}`` (RS256, claims
  ``sub``, ``tenant``, ``ptype``, ``iat``, ``exp`` and ``jwk``: the session public key);
* Object Storage then accepts requests signed with the session key, keyId ``ST$<token>``, for
  the token's tenancy.
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
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import jwt
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import RSAAlgorithm
from tests.support.http_fake import LoopbackFake

__all__ = ["ApiKey", "FakeOciObjectStorage", "InstanceIdentity", "new_api_key", "new_instance_identity"]

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


def _pem(key: rsa.RSAPrivateKey) -> str:
    """``-----BEGIN RSA PRIVATE KEY-----`` (PKCS#1), as the metadata service serves an instance's key."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


@dataclass(frozen=True)
class InstanceIdentity:
    """An OCI instance's identity as its metadata service serves it."""

    tenancy: str
    instance: str
    region: str  # the short name IMDS answers, e.g. "iad"
    leaf_pem: str
    key_pem: str = field(repr=False)
    intermediate_pem: str


def new_instance_identity(tenancy: str, region: str = "iad") -> InstanceIdentity:
    """A fresh intermediate CA and an instance leaf certificate it issued, for an instance of ``tenancy``."""
    now = datetime.now(UTC)
    instance = f"ocid1.instance.oc1.{region}.{uuid.uuid4().hex}"
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"PKISVC Identity Intermediate {region}")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, instance),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "opc-certtype:instance"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"opc-instance:{instance}"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"opc-tenant:{tenancy}"),
        ]
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=2))
        .sign(ca_key, hashes.SHA256())
    )
    return InstanceIdentity(
        tenancy=tenancy,
        instance=instance,
        region=region,
        leaf_pem=leaf.public_bytes(serialization.Encoding.PEM).decode(),
        key_pem=_pem(leaf_key),
        intermediate_pem=ca.public_bytes(serialization.Encoding.PEM).decode(),
    )


def _verify_signature(public: Any, params: dict[str, str], method: str, target: str, headers: Any) -> bool:
    """Check an OCI request signature (draft-cavage HTTP signatures, rsa-sha256) over its signed headers."""
    if params.get("algorithm") != "rsa-sha256" or params.get("version") != "1":
        return False
    lines = []
    for name in params.get("headers", "date").split():
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
        else:
            value = headers.get(name)
            if value is None:
                return False
            lines.append(f"{name}: {value}")
    if not isinstance(public, rsa.RSAPublicKey):
        return False
    try:
        public.verify(
            base64.b64decode(params.get("signature", "")),
            "\n".join(lines).encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass
class _Object:
    data: bytes
    etag: str
    md5: str
    created: datetime


class FakeOciObjectStorage(LoopbackFake):
    """The fake server (a thread of the test process) and its state."""

    thread_name = "fake-oci"

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []  # (method, path?query), for assertions
        self._keys: dict[str, ApiKey] = {}
        self._buckets: dict[tuple[str, str], dict[str, _Object]] = {}
        self._owners: dict[tuple[str, str], str] = {}  # bucket -> tenancy that may read it
        self._instance: InstanceIdentity | None = None  # what the metadata service serves
        self._trusted_cas: set[str] = set()  # intermediate certificates (PEM) the Auth Service trusts
        self._token_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.tokens_issued = 0
        self._lock = threading.Lock()

    @property
    def metadata_base_url(self) -> str:
        """The instance metadata service v2 base (what ``OCI_METADATA_BASE_URL`` names)."""
        return f"{self.endpoint}/opc/v2"

    @property
    def federation_endpoint(self) -> str:
        return f"{self.endpoint}/v1/x509"

    def set_instance(self, identity: InstanceIdentity, *, trusted: bool = True) -> None:
        """The instance this host's metadata service describes; ``trusted``: its CA is one the Auth
        Service accepts (False: the federation endpoint refuses it, as for a forged certificate)."""
        with self._lock:
            self._instance = identity
            if trusted:
                self._trusted_cas.add(identity.intermediate_pem)

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

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler(self)

    # -- request handling (called from the handler thread) ------------------------------------

    def authenticate(self, method: str, target: str, headers: Any) -> str | None:
        """The tenancy of a correctly signed request: an API key's, or a security token's."""
        auth = headers.get("authorization", "")
        if not auth.startswith("Signature "):
            return None
        params = dict(_SIG.findall(auth))
        key_id = params.get("keyId", "")
        if key_id.startswith("ST$"):
            try:
                claims = jwt.decode(key_id[3:], self._token_key.public_key(), algorithms=["RS256"])
                session = RSAAlgorithm.from_jwk(claims["jwk"])
            except (jwt.PyJWTError, KeyError, ValueError):
                return None
            return str(claims["tenant"]) if _verify_signature(session, params, method, target, headers) else None
        key = self._keys.get(key_id)
        if key is None:
            return None
        public = serialization.load_pem_public_key(key.public_pem.encode())
        return key.tenancy if _verify_signature(public, params, method, target, headers) else None

    def bucket_for(self, tenancy: str, namespace: str, bucket: str) -> dict[str, _Object] | None:
        with self._lock:
            found = self._buckets.get((namespace, bucket))
            if found is None or self._owners.get((namespace, bucket)) != tenancy:
                return None
            return found

    def metadata(self, path: str) -> str | None:
        """An instance metadata document (``/instance/region``, ``/identity/*.pem``), or None."""
        with self._lock:
            me = self._instance
        if me is None:
            return None
        return {
            "/instance/region": me.region,
            "/identity/cert.pem": me.leaf_pem,
            "/identity/key.pem": me.key_pem,
            "/identity/intermediate.pem": me.intermediate_pem,
        }.get(path)

    def federate(self, target: str, headers: Any, body: bytes) -> str | None:
        """A security token for a signed X.509 federation request, or None (refused)."""
        params = dict(_SIG.findall(headers.get("authorization", "")))
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if headers.get("x-content-sha256") != digest or "x-content-sha256" not in params.get("headers", ""):
            return None
        try:
            doc = json.loads(body)
            leaf = x509.load_der_x509_certificate(base64.b64decode(doc["certificate"]))
            chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in doc["intermediateCertificates"]]
            session = serialization.load_der_public_key(base64.b64decode(doc["publicKey"]))
        except (ValueError, KeyError, TypeError):
            return None
        tenancy = next(
            (str(a.value)[len("opc-tenant:") :] for a in leaf.subject if str(a.value).startswith("opc-tenant:")), ""
        )
        fingerprint = ":".join(f"{b:02X}" for b in leaf.fingerprint(hashes.SHA1()))
        if params.get("keyId") != f"{tenancy}/fed-x509/{fingerprint}":
            return None
        if not _verify_signature(leaf.public_key(), params, "POST", target, headers):
            return None
        with self._lock:
            trusted = {c for c in chain if c.public_bytes(serialization.Encoding.PEM).decode() in self._trusted_cas}
        issued = False
        for ca in trusted:
            ca_key, algorithm = ca.public_key(), leaf.signature_hash_algorithm
            if isinstance(ca_key, rsa.RSAPublicKey) and algorithm is not None:
                with contextlib.suppress(InvalidSignature):
                    ca_key.verify(leaf.signature, leaf.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
                    issued = True
        if not issued or not isinstance(session, rsa.RSAPublicKey):
            return None
        now = int(datetime.now(UTC).timestamp())
        claims = {
            "sub": str(leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value),
            "tenant": tenancy,
            "ptype": "instance",
            "iss": "authService.oracle.com",
            "iat": now,
            "exp": now + 1200,
            "jwk": RSAAlgorithm.to_jwk(session),
        }
        with self._lock:
            self.tokens_issued += 1
        return jwt.encode(claims, self._token_key, algorithm="RS256")


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

        def _text(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.path.split("?")[0] != "/v1/x509":
                self._error(404, "NotFound", f"Unknown resource {self.path}")
                return
            token = fake.federate(self.path, self.headers, body)
            if token is None:
                self._error(
                    401,
                    "NotAuthenticated",
                    "The required information to complete authentication was not provided or was incorrect.",
                )
                return
            self._text(200, json.dumps({"token": token}).encode(), "application/json")

        def do_GET(self) -> None:
            if self.path.startswith("/opc/v2/"):  # the instance metadata service
                if self.headers.get("authorization") != "Bearer Oracle":
                    self._text(401, b"Unauthorized", "text/plain")
                    return
                doc = fake.metadata(self.path[len("/opc/v2") :])
                self._text(200 if doc is not None else 404, (doc or "Not Found").encode(), "text/plain")
                return
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

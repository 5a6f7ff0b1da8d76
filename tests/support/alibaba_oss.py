"""A faithful fake of Alibaba Cloud OSS's REST API, for ``alibabacloud-oss-v2`` over HTTP on 127.0.0.1.

Only what cloudops calls, with the shapes of the OSS API reference (help.aliyun.com, "OSS API
overview"), path-style addressing (``/{bucket}/{key}``):

* ``GET /{bucket}/?list-type=2`` (ListObjectsV2): ``prefix``, ``max-keys`` (default 100),
  ``continuation-token``, ``encoding-type=url``; XML ``ListBucketResult`` with ``Contents``
  (``Key``, ``LastModified``, ``ETag`` quoted, ``Type``, ``Size``, ``StorageClass``),
  ``IsTruncated``, ``NextContinuationToken``, ``KeyCount``;
* ``GET /{bucket}/{key}`` (GetObject): the bytes with ``ETag``, ``Content-Length``,
  ``Last-Modified``, ``x-oss-request-id``, ``x-oss-object-type``; ``If-Match`` honoured (412
  ``PreconditionFailed``).

Every request must be signed with OSS signature V4 (``Authorization: OSS4-HMAC-SHA256
Credential=<AccessKeyId>/<yyyymmdd>/<region>/oss/aliyun_v4_request,AdditionalHeaders=...,
Signature=<hex>``): the fake rebuilds the canonical request and checks the HMAC-SHA256 signature
with the registered secret (403 ``InvalidAccessKeyId`` / ``SignatureDoesNotMatch``). A bucket is
readable only with the AccessKey of its owner (403 ``AccessDenied``); a missing bucket or object
is 404 ``NoSuchBucket`` / ``NoSuchKey``. Errors are the OSS ``<Error>`` XML with ``x-oss-request-id``.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import hmac
import re
import threading
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from xml.sax.saxutils import escape

from tests.support.http_fake import LoopbackFake

__all__ = ["FakeOss"]

_AUTH = re.compile(
    r"^OSS4-HMAC-SHA256 Credential=(?P<ak>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/oss/aliyun_v4_request,"
    r"(?:AdditionalHeaders=(?P<additional>[^,]*),)?Signature=(?P<sig>[0-9a-f]{64})$"
)


@dataclass
class _Object:
    data: bytes
    etag: str
    modified: datetime


def _quote(text: str, safe: str = "-_.~") -> str:
    return urllib.parse.quote(text, safe=safe)


class FakeOss(LoopbackFake):
    """The fake server (a thread of the test process) and its state."""

    thread_name = "fake-oss"

    def __init__(self, region: str = "cn-hangzhou") -> None:
        self.region = region
        self.requests: list[tuple[str, str]] = []
        self._secrets: dict[str, str] = {}
        self._buckets: dict[str, dict[str, _Object]] = {}
        self._owners: dict[str, str] = {}
        self._lock = threading.Lock()

    def add_access_key(self, access_key_id: str, secret: str) -> None:
        self._secrets[access_key_id] = secret

    def create_bucket(self, bucket: str, *, owner: str) -> None:
        with self._lock:
            self._buckets.setdefault(bucket, {})
            self._owners[bucket] = owner

    def put(self, bucket: str, key: str, data: bytes) -> str:
        """Write (or overwrite) an object as the bill subscription would; returns its ETag (unquoted)."""
        etag = hashlib.md5(data).hexdigest().upper()
        with self._lock:
            self._buckets[bucket][key] = _Object(data, etag, datetime.now(UTC))
        return etag

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler(self)

    def verify(self, method: str, path: str, query: str, headers: Any, bucket: str) -> tuple[str | None, str]:
        """(access key id, "") when the V4 signature is right, else (None, error code)."""
        m = _AUTH.match(headers.get("authorization", ""))
        if m is None:
            return None, "AccessDenied"
        secret = self._secrets.get(m["ak"])
        if secret is None:
            return None, "InvalidAccessKeyId"
        # Canonical request (OSS V4): verb, URI (/bucket/key), query, headers, additional headers, payload hash.
        params = urllib.parse.parse_qsl(query, keep_blank_values=True)
        canonical_query = "&".join(sorted(f"{_quote(k)}={_quote(v)}" if v else _quote(k) for k, v in params))
        additional = [h for h in (m["additional"] or "").split(";") if h]
        signed = {
            k.lower(): str(v).strip()
            for k, v in headers.items()
            if k.lower().startswith("x-oss-") or k.lower() in ("content-type", "content-md5", *additional)
        }
        canonical_headers = "".join(f"{k}:{signed[k]}\n" for k in sorted(signed))
        key_part = urllib.parse.unquote(path[len(bucket) + 2 :]) if bucket else ""
        canonical_uri = "/" + (f"{bucket}/" if bucket else "") + _quote(key_part, safe="-_.~/")
        request = "\n".join(
            [
                method,
                canonical_uri,
                canonical_query,
                canonical_headers,
                ";".join(additional),
                headers.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
            ]
        )
        scope = f"{m['date']}/{m['region']}/oss/aliyun_v4_request"
        to_sign = "\n".join(
            ["OSS4-HMAC-SHA256", headers.get("x-oss-date", ""), scope, hashlib.sha256(request.encode()).hexdigest()]
        )
        key = f"aliyun_v4{secret}".encode()
        for part in (m["date"], m["region"], "oss", "aliyun_v4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, m["sig"]):
            return None, "SignatureDoesNotMatch"
        return m["ak"], ""


def _handler(fake: FakeOss) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for k, v in {**headers, "Content-Length": str(len(body)), "x-oss-request-id": uuid.uuid4().hex}.items():
                self.send_header(k, v)
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def _error(self, status: int, code: str, message: str, **extra: str) -> None:
            fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in extra.items())
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
                f"<Code>{code}</Code><Message>{escape(message)}</Message><RequestId>{uuid.uuid4().hex}</RequestId>"
                f"<HostId>127.0.0.1</HostId>{fields}<EC>0000-00000000</EC></Error>"
            ).encode()
            self._send(status, body, {"Content-Type": "application/xml"})

        def do_GET(self) -> None:
            fake.requests.append(("GET", self.path))
            url = urllib.parse.urlsplit(self.path)
            bucket, _, key = url.path.lstrip("/").partition("/")
            bucket = urllib.parse.unquote(bucket)
            ak, code = fake.verify("GET", url.path, url.query, self.headers, bucket)
            if ak is None:
                self._error(403, code, "The request signature or access key is not valid.")
                return
            with fake._lock:
                objects = fake._buckets.get(bucket)
                owner = fake._owners.get(bucket)
            if objects is None:
                self._error(404, "NoSuchBucket", "The specified bucket does not exist.", BucketName=bucket)
                return
            if owner != ak:
                self._error(403, "AccessDenied", "You have no right to access this object because of bucket acl.")
                return
            if key:
                self._get(objects, urllib.parse.unquote(key))
            else:
                self._list(bucket, objects, urllib.parse.parse_qs(url.query, keep_blank_values=True))

        def _list(self, bucket: str, objects: dict[str, _Object], q: dict[str, list[str]]) -> None:
            prefix = q.get("prefix", [""])[0]
            limit = int(q.get("max-keys", ["100"])[0])
            token = q.get("continuation-token", [""])[0]
            encode = q.get("encoding-type", [""])[0] == "url"
            with fake._lock:
                names = sorted(n for n in objects if n.startswith(prefix) and n > token)
                page, rest = names[:limit], names[limit:]
                items = [(n, objects[n]) for n in page]

            def enc(text: str) -> str:
                return escape(urllib.parse.quote(text, safe="/") if encode else text)

            contents = "".join(
                f"<Contents><Key>{enc(n)}</Key>"
                f"<LastModified>{o.modified.strftime('%Y-%m-%dT%H:%M:%S.000Z')}</LastModified>"
                f'<ETag>"{o.etag}"</ETag><Type>Normal</Type><Size>{len(o.data)}</Size>'
                "<StorageClass>Standard</StorageClass></Contents>"
                for n, o in items
            )
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult>'
                f"<Name>{escape(bucket)}</Name><Prefix>{enc(prefix)}</Prefix><MaxKeys>{limit}</MaxKeys>"
                + ("<EncodingType>url</EncodingType>" if encode else "")
                + f"<IsTruncated>{'true' if rest else 'false'}</IsTruncated><KeyCount>{len(items)}</KeyCount>"
                + (f"<NextContinuationToken>{enc(page[-1])}</NextContinuationToken>" if rest else "")
                + contents
                + "</ListBucketResult>"
            ).encode()
            self._send(200, body, {"Content-Type": "application/xml"})

        def _get(self, objects: dict[str, _Object], key: str) -> None:
            with fake._lock:
                obj = objects.get(key)
            if obj is None:
                self._error(404, "NoSuchKey", "The specified key does not exist.", Key=key)
                return
            if_match = self.headers.get("if-match")
            if if_match is not None and if_match.strip('"') != obj.etag:
                self._error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold.")
                return
            self._send(
                200,
                obj.data,
                {
                    "Content-Type": "application/octet-stream",
                    "ETag": f'"{obj.etag}"',
                    "Last-Modified": email.utils.format_datetime(obj.modified, usegmt=True),
                    "x-oss-object-type": "Normal",
                },
            )

    return Handler

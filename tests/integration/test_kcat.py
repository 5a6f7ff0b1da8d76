"""The event API read by a non-Python client: Debian's ``kcat`` (librdkafka) on the suite's broker.

The shipped compute samples (three months of AWS CUR) go through the real parse, load and
recommend workers; kcat then reads ``billing-loaded`` and ``recommendations`` from the
beginning, and every record it prints must validate against the committed JSON Schema of its
topic (``schemas/``), carry the key the AsyncAPI document promises, and only headers it declares.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from cloudops.app import create_app
from cloudops.embedded import compute_sample_files
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.schemas.events import BillingFile
from cloudops.settings import Settings
from cloudops.sources.objects import stat_local
from cloudops.topics.admin import ensure_topics
from cloudops.topics.codec import encode_record
from cloudops.topics.specs import BILLING_FILES, BILLING_LOADED, RECOMMENDATIONS, TopicSpec

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).parents[2] / "schemas"


def _kcat() -> str:
    found = shutil.which("kcat")
    if found is None:
        pytest.fail("kcat is not installed: run `make services` (apt-get install kcat)")
    return found


def kcat_read(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every record of ``topic`` from the beginning to its current end, as kcat's JSON envelope
    (``key``, ``payload``, ``headers`` as a flat name/value list, ``partition``, ``offset``)."""
    done = subprocess.run(
        [_kcat(), "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-J", "-q", "-m", "30"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"kcat failed on {topic}: {done.stderr}"
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


@pytest.fixture
async def loaded(broker: EmbeddedBroker, chdb_dsn: str, tmp_path: Path, unique: str) -> AsyncIterator[Settings]:
    """Three months of compute costs announced, parsed, loaded and recommended on by the real workers."""
    bills = tmp_path / "bills"
    bills.mkdir()
    files = [Path(shutil.copy(p, bills / p.name)) for p in compute_sample_files()]
    settings = Settings(
        app={"id": f"kcat-{unique}", "tenant": f"k{unique}", "work_dir": tmp_path / "work"},
        kafka={"bootstrap_servers": broker.bootstrap_servers, "session_timeout_s": 10.0},
        clickhouse={"dsn": chdb_dsn},
        ingest={"local_root": bills},
    )
    await ensure_topics(settings.kafka)
    app, rt = create_app(settings, ["parse", "load", "recommend"])
    await app.start()
    try:
        for path in files:
            etag, size = stat_local(path)
            url = "file://" + urllib.parse.quote(str(path))
            event = BillingFile(
                tenant=settings.app.tenant, url=url, key=str(path), etag=etag, size=size, trigger="manual"
            )
            await rt.publish(BILLING_FILES, key=event.file_id, value=encode_record(event))
        bootstrap = settings.kafka.bootstrap_servers
        deadline = time.monotonic() + 180
        while len(kcat_read(bootstrap, BILLING_LOADED.name)) < len(files) or not kcat_read(
            bootstrap, RECOMMENDATIONS.name
        ):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no receipts for all {len(files)} files and recommendations within 180 s")
            await asyncio.sleep(1)
        yield settings
    finally:
        await app.stop()


def _declared_headers(spec: TopicSpec) -> set[str]:
    doc = yaml.safe_load((SCHEMAS / "asyncapi.yaml").read_text())
    message = doc["components"]["messages"][f"{spec.name}.v{spec.version}"]
    return set(message.get("headers", {}).get("properties", {}))


def _check(settings: Settings, spec: TopicSpec, key_field: str) -> int:
    """Validate every record kcat reads from ``spec``'s topic; returns how many there were."""
    schema = json.loads((SCHEMAS / spec.schema_file).read_text())
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    declared = _declared_headers(spec)
    records = kcat_read(settings.kafka.bootstrap_servers, spec.name)
    for rec in records:
        value = json.loads(rec["payload"])
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)]
        assert errors == [], f"{spec.name}[{rec['partition']}:{rec['offset']}]"
        assert value["tenant"] == settings.app.tenant
        # The key the AsyncAPI document promises (a recommendation's fingerprint is computed, not sent).
        assert rec["key"] == getattr(spec.model.model_validate(value), key_field)
        headers = rec.get("headers") or []
        assert set(headers[0::2]) <= declared
    return len(records)


def test_kcat_reads_records_that_match_the_committed_schemas(loaded: Settings) -> None:
    assert _check(loaded, BILLING_LOADED, "file_id") >= len(compute_sample_files())  # at least once
    assert _check(loaded, RECOMMENDATIONS, "fingerprint") >= 1

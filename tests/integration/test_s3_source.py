"""``cloudops sources add --check`` for the ``s3`` kind (moto's S3 server; the S3 pipeline itself is
covered by test_pipeline, test_ledger_pipeline and test_multi_tenant).

moto does not verify signatures or IAM policies, so a wrong key and a missing permission cannot be
shown here (their classification, S3's ``InvalidAccessKeyId`` / ``AccessDenied`` codes named in the
reason, is that of every S3 read); what the check says for a missing bucket and a reference that
cannot work is tested.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiobotocore.session import get_session
from tests.support.stores import add_store_source, new_tenant

from cloudops.embedded.objectstore import EmbeddedObjectStore
from cloudops.service.context import InvalidInput
from cloudops.settings import Settings
from cloudops.sinks.postgres.sources import get_source

pytestmark = pytest.mark.integration


async def test_sources_add_check_says_what_is_wrong(
    object_store: EmbeddedObjectStore, postgres_db: str, tmp_path: Path, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(postgres={"dsn": postgres_db}, aws=object_store.settings())
    caller = new_tenant(postgres_db, f"s3{unique}", settings)
    bucket = f"cur-{unique}"
    async with get_session().create_client(
        "s3",
        endpoint_url=object_store.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ) as s3:
        await s3.create_bucket(Bucket=bucket)
        await s3.put_object(Bucket=bucket, Key="cur/a.csv", Body=b"x")
    monkeypatch.setenv(f"S3_{unique}_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv(f"S3_{unique}_SECRET_ACCESS_KEY", "testing")
    (tmp_path / "partial.json").write_text('{"access_key_id": "testing"}')

    async def add(source_id: str, where: str, ref: str | None) -> object:
        return await add_store_source(
            caller,
            source_id,
            provider="aws",
            bucket=where,
            prefix="cur/",
            credentials_ref=ref,
            endpoint_url=object_store.endpoint_url,
            region="us-east-1",
            check=True,
        )

    cases = [
        ("s3-nobucket", f"absent-{unique}", f"env:S3_{unique}", r"NoSuchBucket"),
        ("s3-noenv", bucket, f"env:ABSENT_{unique}", f"ABSENT_{unique}_ACCESS_KEY_ID"),
        ("s3-partial", bucket, f"file:{tmp_path / 'partial.json'}", "has no access_key_id and secret_access_key"),
        ("s3-badrole", bucket, "aws-role:arn:aws:iam::12:role/x", "is not an IAM role ARN"),
    ]
    for source_id, where, ref, reason in cases:
        with pytest.raises(InvalidInput, match=f"cannot be listed: .*{reason}"):
            await add(source_id, where, ref)
        assert get_source(postgres_db, caller.tenant or "", source_id) is None  # nothing saved
    made = await add("s3-ok", bucket, f"env:S3_{unique}")
    assert made is not None

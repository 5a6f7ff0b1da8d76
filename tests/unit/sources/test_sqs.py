"""cloudops.sources.sqs: decoding S3 ObjectCreated notifications delivered through SQS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from cloudops.errors import BadDataError
from cloudops.sources.sqs import S3ObjectCreated, parse_s3_notification

# Recorded from moto: an object "a b/c+d.csv" put into bucket "billing".
MOTO_PUT = (
    '{"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", '
    '"eventTime": "2026-11-27T23:46:26.425Z", "eventName": "ObjectCreated:Put", "s3": '
    '{"s3SchemaVersion": "1.0", "configurationId": "ZHlyoMpJop3X29r83fjHAsYF4aKm4cBmh3V5C7eTRI0KBifQUt", '
    '"bucket": {"name": "billing", "arn": "arn:aws:s3:::billing"}, "object": {"key": "a+b%2Fc%2Bd.csv", '
    '"size": 8, "eTag": "344fd2323dd33d5c058b7cf27de029e8"}}}]}'
)
# Recorded from moto: sent when a notification configuration is set on the bucket.
MOTO_TEST_EVENT = (
    '{"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-27T23:46:26.409Z", "Bucket": "billing"}'
)

EXPECTED = S3ObjectCreated(
    bucket="billing",
    key="a b/c+d.csv",
    etag="344fd2323dd33d5c058b7cf27de029e8",
    version_id=None,
    size=8,
    event_time=datetime(2026, 11, 27, 23, 46, 26, 425000, tzinfo=UTC),
    event_name="ObjectCreated:Put",
)


def _record(name: str = "ObjectCreated:Put", key: str = "k.csv", **obj: object) -> dict:
    return {
        "eventName": name,
        "eventTime": "2024-01-01T00:00:00.000Z",
        "s3": {"bucket": {"name": "b"}, "object": {"key": key, **obj}},
    }


def test_moto_put_event() -> None:
    assert parse_s3_notification(MOTO_PUT) == [EXPECTED]


def test_key_is_url_decoded_with_plus_as_space() -> None:
    (event,) = parse_s3_notification(MOTO_PUT)
    assert event.key == "a b/c+d.csv"
    (other,) = parse_s3_notification(json.dumps({"Records": [_record(key="cur%2F2024-01%2Fr%C3%A9sum%C3%A9.csv.gz")]}))
    assert other.key == "cur/2024-01/résumé.csv.gz"


def test_event_time_is_utc() -> None:
    (event,) = parse_s3_notification(MOTO_PUT)
    assert event.event_time.utcoffset() == timedelta(0)


def test_test_event_is_ignored() -> None:
    assert parse_s3_notification(MOTO_TEST_EVENT) == []


def test_sns_wrapped_body() -> None:
    body = json.dumps(
        {
            "Type": "Notification",
            "MessageId": "5d1c1b4f-0000-0000-0000-000000000000",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:billing",
            "Subject": "Amazon S3 Notification",
            "Message": MOTO_PUT,
        }
    )
    assert parse_s3_notification(body) == [EXPECTED]


def test_sns_wrapped_test_event() -> None:
    assert parse_s3_notification(json.dumps({"Type": "Notification", "Message": MOTO_TEST_EVENT})) == []


def test_non_object_created_records_are_skipped() -> None:
    body = json.dumps(
        {
            "Records": [
                _record("ObjectRemoved:Delete", key="gone.csv"),
                _record("ObjectCreated:CompleteMultipartUpload", key="big.csv.gz", size=10, versionId="v2"),
                _record("s3:ObjectRestore:Completed", key="restored.csv"),
                _record("ObjectCreated:Copy", key="copy.csv", etag="e1"),
            ]
        }
    )
    events = parse_s3_notification(body)
    assert [(e.key, e.event_name, e.version_id, e.size, e.etag) for e in events] == [
        ("big.csv.gz", "ObjectCreated:CompleteMultipartUpload", "v2", 10, None),
        ("copy.csv", "ObjectCreated:Copy", None, None, "e1"),
    ]


def test_only_deletes_gives_nothing() -> None:
    assert parse_s3_notification(json.dumps({"Records": [_record("ObjectRemoved:Delete")]})) == []


def test_missing_event_time_defaults_to_now() -> None:
    rec = _record()
    del rec["eventTime"]
    before = datetime.now(UTC)
    (event,) = parse_s3_notification(json.dumps({"Records": [rec]}))
    assert before <= event.event_time <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json at all", "SQS message is not JSON"),
        ("", "SQS message is not JSON"),
        ("[1, 2]", "SQS message is not a JSON object"),
        ('"text"', "SQS message is not a JSON object"),
        ("{}", "SQS message has no S3 Records"),
        ('{"Records": "nope"}', "SQS message has no S3 Records"),
        ('{"Type": "Notification", "Message": "garbage"}', "SQS message is not JSON"),
        ('{"Records": [{"eventName": "ObjectCreated:Put"}]}', "malformed S3 event record"),
        (
            '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {}}}]}',
            "malformed S3 event record",
        ),
        ('{"Records": [null]}', "malformed S3 event record"),
    ],
)
def test_garbage_is_bad_data(body: str, message: str) -> None:
    with pytest.raises(BadDataError, match=message):
        parse_s3_notification(body)


def test_bad_event_time_is_bad_data() -> None:
    rec = _record()
    rec["eventTime"] = "yesterday"
    with pytest.raises(BadDataError, match="malformed S3 event record"):
        parse_s3_notification(json.dumps({"Records": [rec]}))

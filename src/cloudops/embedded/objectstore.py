"""moto's S3 + SQS server on 127.0.0.1, with a bucket that notifies a queue on ObjectCreated."""

from __future__ import annotations

import logging
from typing import Any

from moto.server import ThreadedMotoServer

from cloudops.embedded.net import free_port
from cloudops.settings import AwsSettings
from cloudops.sources.objects import s3_client

__all__ = ["EmbeddedObjectStore", "provision_bucket_queue"]


class EmbeddedObjectStore:
    """A moto server (S3, SQS and the rest of moto) in a background thread."""

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._server: Any = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmbeddedObjectStore:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def settings(self, **extra: Any) -> dict[str, Any]:
        """AwsSettings fields pointing at this server (fake credentials)."""
        return {
            "endpoint_url": self.endpoint_url,
            "region": "us-east-1",
            "access_key_id": "testing",
            "secret_access_key": "testing",
            **extra,
        }

    def __enter__(self) -> EmbeddedObjectStore:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def provision_bucket_queue(aws: AwsSettings, bucket: str, queue: str) -> str:
    """Create ``bucket`` and ``queue``; route the bucket's ObjectCreated events to the queue (its URL)."""
    async with s3_client(aws, "sqs") as sqs, s3_client(aws, "s3") as s3:
        queue_url: str = (await sqs.create_queue(QueueName=queue))["QueueUrl"]
        attrs = await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        arn = attrs["Attributes"]["QueueArn"]
        await s3.create_bucket(Bucket=bucket)
        await s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
        )
        return queue_url

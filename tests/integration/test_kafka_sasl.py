"""Kafka clients built from ``KafkaSettings`` authenticate with SASL against the embedded broker.

The embedded broker (noida-db) speaks SASL PLAIN on its plaintext listener and accepts any user
and password (it has no user database), and it offers no SCRAM and no TLS. So this proves that
every client path (topic admin, producer, the lag reader's admin and consumer, the readiness
probe) performs the SASL handshake with the configured mechanism - a SCRAM request is refused by
the broker, which a client that ignored the settings would never be - not that a wrong password
is refused. TLS contexts and SCRAM arguments are covered by tests/unit/topics/test_clients.py.
"""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from cloudops.app import create_app
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.settings import KafkaSettings, Settings
from cloudops.topics.admin import ensure_topics
from cloudops.topics.clients import client_kwargs
from cloudops.topics.health import default_checks
from cloudops.topics.lag import consumer_lag

pytestmark = pytest.mark.integration


def _sasl(broker: EmbeddedBroker, mechanism: str = "PLAIN") -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=broker.bootstrap_servers,
        topic_partitions=1,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        sasl_username="cloudops",
        sasl_password="s3cret",
    )


async def test_every_client_path_connects_over_sasl_plain(broker: EmbeddedBroker, unique: str) -> None:
    kafka = _sasl(broker)
    assert "focus-batches" in await ensure_topics(kafka)  # the admin client
    producer = AIOKafkaProducer(**client_kwargs(kafka), acks="all")
    await producer.start()
    try:
        for _ in range(3):
            await producer.send_and_wait("focus-batches", value=b"x")
    finally:
        await producer.stop()
    lag = await consumer_lag(kafka, f"sasl-{unique}", ["focus-batches"])  # admin + group-less consumer
    assert lag == {("focus-batches", 0): 3}
    settings = Settings(kafka=kafka.model_dump(by_alias=True))
    await default_checks(settings)["broker"]()  # the readiness probe
    app, _rt = create_app(settings, [])
    creds = app.conf.broker_credentials
    assert creds is not None
    assert (creds.username, creds.mechanism.value) == ("cloudops", "PLAIN")


async def test_the_configured_mechanism_is_what_the_client_asks_for(broker: EmbeddedBroker) -> None:
    producer = AIOKafkaProducer(**client_kwargs(_sasl(broker, "SCRAM-SHA-512")), request_timeout_ms=5000)
    with pytest.raises(KafkaConnectionError):  # the broker offers PLAIN only
        await producer.start()
    await producer.stop()

"""How every Kafka client of cloudops connects: bootstrap servers, TLS and SASL from ``KafkaSettings``.

:func:`client_kwargs` is the one place that turns the settings into connection arguments; every
aiokafka client (producers, group-less consumers, the admin client, the readiness probe) is built
with ``**client_kwargs(settings.kafka)``, and the Faust app's ``broker_credentials`` come from the
same arguments (:func:`faust_credentials`), so a TLS or SASL setting cannot reach one client and
miss another.
"""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context
from faust.auth import SASLCredentials, SSLCredentials
from faust.types.auth import CredentialsT

from cloudops.settings import KafkaSettings

__all__ = ["client_kwargs", "faust_credentials"]


def _ssl_context(kafka: KafkaSettings) -> ssl.SSLContext:
    """A client TLS context: the configured CA (else the system's trust store), the client
    certificate and key for mutual TLS when set. Raises OSError/ssl.SSLError for unreadable files."""
    secret = kafka.ssl_key_password

    def key_password() -> str:
        # Called by OpenSSL only for an encrypted key. Without it OpenSSL would prompt on the
        # terminal (a worker would hang); an empty password fails at once instead.
        return secret.get_secret_value() if secret is not None else ""

    context: ssl.SSLContext = create_ssl_context(
        cafile=kafka.ssl_ca_file, certfile=kafka.ssl_cert_file, keyfile=kafka.ssl_key_file, password=key_password
    )
    return context


def client_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (``AIOKafkaProducer``, ``AIOKafkaConsumer``,
    ``AIOKafkaAdminClient``, ``AIOKafkaClient``): ``bootstrap_servers`` and the security settings
    (``security_protocol``, ``ssl_context``, ``sasl_mechanism``, ``sasl_plain_username``,
    ``sasl_plain_password``). The password is revealed here only, into the client."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        kwargs["ssl_context"] = _ssl_context(kafka)
    if kafka.security_protocol.startswith("SASL_"):
        assert kafka.sasl_password is not None  # KafkaSettings refuses SASL without a password
        kwargs["sasl_mechanism"] = kafka.sasl_mechanism
        kwargs["sasl_plain_username"] = kafka.sasl_username
        kwargs["sasl_plain_password"] = kafka.sasl_password.get_secret_value()
    return kwargs


def faust_credentials(kafka: KafkaSettings) -> CredentialsT | None:
    """The Faust app's ``broker_credentials`` for the same connection as :func:`client_kwargs`
    (Faust hands them to its own aiokafka clients); None for ``PLAINTEXT``."""
    kw = client_kwargs(kafka)
    if "sasl_mechanism" in kw:
        return SASLCredentials(
            username=kw["sasl_plain_username"],
            password=kw["sasl_plain_password"],
            ssl_context=kw.get("ssl_context"),
            mechanism=kw["sasl_mechanism"],
        )
    if "ssl_context" in kw:
        return SSLCredentials(kw["ssl_context"])
    return None

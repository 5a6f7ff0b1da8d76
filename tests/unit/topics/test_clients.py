"""cloudops.topics.clients: the one builder of Kafka connection arguments (aiokafka and Faust)."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from faust.auth import SASLCredentials, SSLCredentials
from faust.types.auth import AuthProtocol, SASLMechanism
from pydantic import SecretStr

from cloudops.settings import KafkaSettings
from cloudops.topics.clients import client_kwargs, faust_credentials


def _cert(
    tmp_path: Path,
    name: str,
    *,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    key_password: bytes | None = None,
) -> tuple[Path, Path, x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer_cert, signer_key = issuer if issuer else (None, key)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(signer_cert.subject if signer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        .sign(signer_key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    encryption = serialization.BestAvailableEncryption(key_password) if key_password else serialization.NoEncryption()
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    return cert_file, key_file, cert, key


def test_plaintext_is_bootstrap_only() -> None:
    kafka = KafkaSettings(bootstrap_servers="b1:9092,b2:9092")
    assert client_kwargs(kafka) == {"bootstrap_servers": "b1:9092,b2:9092", "security_protocol": "PLAINTEXT"}
    assert faust_credentials(kafka) is None


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_plaintext(mechanism: str) -> None:
    kafka = KafkaSettings(
        security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism, sasl_username="svc", sasl_password="pw-1"
    )
    kw = client_kwargs(kafka)
    assert kw == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "svc",
        "sasl_plain_password": "pw-1",
    }
    creds = faust_credentials(kafka)
    assert isinstance(creds, SASLCredentials)
    assert (creds.protocol, creds.mechanism) == (AuthProtocol.SASL_PLAINTEXT, SASLMechanism(mechanism))
    assert (creds.username, creds.password, creds.ssl_context) == ("svc", "pw-1", None)
    assert "pw-1" not in repr(creds)


def test_sasl_ssl_with_private_ca_and_mutual_tls(tmp_path: Path) -> None:
    ca_file, _ca_key_file, ca, ca_key = _cert(tmp_path, "test-ca")
    cert_file, key_file, _, _ = _cert(tmp_path, "client", issuer=(ca, ca_key), key_password=b"key-pw")
    kafka = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="svc",
        sasl_password="pw-2",
        ssl_ca_file=ca_file,
        ssl_cert_file=cert_file,
        ssl_key_file=key_file,
        ssl_key_password="key-pw",
    )
    kw = client_kwargs(kafka)
    context = kw["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    # The private CA is the one trusted (not the system store).
    assert [dict(x[0] for x in c["subject"])["commonName"] for c in context.get_ca_certs()] == ["test-ca"]
    assert kw["sasl_mechanism"] == "SCRAM-SHA-256"
    assert kw["security_protocol"] == "SASL_SSL"
    creds = faust_credentials(kafka)
    assert isinstance(creds, SASLCredentials)
    assert creds.protocol == AuthProtocol.SASL_SSL
    assert creds.ssl_context is not None


def test_ssl_without_sasl_and_a_wrong_key_password(tmp_path: Path) -> None:
    ca_file, _, ca, ca_key = _cert(tmp_path, "test-ca")
    cert_file, key_file, _, _ = _cert(tmp_path, "client", issuer=(ca, ca_key), key_password=b"right")
    kafka = KafkaSettings(security_protocol="SSL", ssl_ca_file=ca_file)
    kw = client_kwargs(kafka)
    assert set(kw) == {"bootstrap_servers", "security_protocol", "ssl_context"}
    creds = faust_credentials(kafka)
    assert isinstance(creds, SSLCredentials)
    assert creds.protocol == AuthProtocol.SSL
    wrong = kafka.model_copy(update={"ssl_cert_file": cert_file, "ssl_key_file": key_file, "ssl_key_password": None})
    with pytest.raises(ssl.SSLError):  # an encrypted key without its password fails here (no terminal prompt)
        client_kwargs(wrong)
    with pytest.raises(ssl.SSLError):
        client_kwargs(wrong.model_copy(update={"ssl_key_password": SecretStr("wrong")}))
    right = wrong.model_copy(update={"ssl_key_password": SecretStr("right")})
    assert isinstance(client_kwargs(right)["ssl_context"], ssl.SSLContext)


async def test_every_aiokafka_client_accepts_the_arguments() -> None:
    """The arguments are valid for each client class cloudops builds (nothing is connected)."""
    kw = client_kwargs(
        KafkaSettings(
            security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512", sasl_username="u", sasl_password="p"
        )
    )
    producer = AIOKafkaProducer(**kw, acks="all")
    consumer = AIOKafkaConsumer(**kw, enable_auto_commit=False, group_id=None)
    admin = AIOKafkaAdminClient(**kw)
    client = AIOKafkaClient(**kw)
    assert producer.client._sasl_mechanism == "SCRAM-SHA-512"
    assert consumer._client._security_protocol == "SASL_PLAINTEXT"
    assert admin._client._sasl_plain_username == "u"
    assert client._sasl_plain_password == "p"
    await producer.client.close()
    await consumer._client.close()
    await admin.close()
    await client.close()

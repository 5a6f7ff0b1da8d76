"""Embedded stand-ins for local runs and tests: real engines on loopback, started on demand.

* :class:`~cloudops.embedded.broker.EmbeddedBroker` - noida-db's Kafka-wire broker
* :class:`~cloudops.embedded.objectstore.EmbeddedObjectStore` - moto's S3 + SQS server
"""

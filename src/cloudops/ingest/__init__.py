"""The ingest flow, from an object landing in a bucket to its receipt, and what follows a receipt.

Read top-down, one file's walk:

1. :mod:`~cloudops.ingest.bridge` (an S3 notification or Azure event, routed to its tenant's
   source) or :mod:`~cloudops.ingest.schedule` (a listing) announces it on ``billing-files``;
2. :mod:`~cloudops.ingest.parse` admits and claims it, then either registers a period version
   (:mod:`~cloudops.ingest.versions`: manifests and snapshots) or fetches, converts and
   publishes its batches (:mod:`~cloudops.ingest.convert`) on ``focus-batches``; a failure
   ends in :mod:`~cloudops.ingest.outcomes` (dead letter, retry round, superseded, taken over);
3. :mod:`~cloudops.ingest.load` inserts the batches, reconciles the file against its end
   record and publishes the ``billing-loaded`` receipt; a complete period version is swapped in
   by :mod:`~cloudops.ingest.periods`;
4. :mod:`~cloudops.ingest.recommend` looks for savings after a receipt and
   :mod:`~cloudops.ingest.propose` turns them into pull requests.

Every move of a file's ledger row is decided in :mod:`~cloudops.ingest.lifecycle`; state a
worker keeps between messages lives in :mod:`~cloudops.ingest.state` (PostgreSQL). The Faust
agents (:mod:`cloudops.agents`) only wire these to topics through the runtime's handler
(:class:`cloudops.topics.runtime.Handler`); SQL stays in :mod:`cloudops.sinks`.
"""

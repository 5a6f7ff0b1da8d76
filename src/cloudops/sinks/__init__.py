"""Adapters out: ClickHouse, PostgreSQL, GitHub."""

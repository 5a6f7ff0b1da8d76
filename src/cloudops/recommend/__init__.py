"""Savings recommenders: pure functions over a tenant's FOCUS aggregates -> Recommendation records."""

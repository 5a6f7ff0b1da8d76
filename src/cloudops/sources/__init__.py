"""Adapters in: object stores, SQS notifications, local folders, file readers."""

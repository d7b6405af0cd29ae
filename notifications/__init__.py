"""Outbox and email delivery shared by every domain."""

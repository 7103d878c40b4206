"""Shared by every capability: events, errors, text, the store, the thread bridge, export."""

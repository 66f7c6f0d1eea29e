"""News monitor: polls feeds, normalizes stories, matches topics, archives and alerts."""

__version__ = "0.1.0"

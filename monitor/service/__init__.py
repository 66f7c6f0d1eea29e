"""The long-running service: the composition root, the ticker, configuration reloads, the
single-instance lock, logs, and the /metrics and /healthz server."""

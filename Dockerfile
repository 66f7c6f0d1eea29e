# The news monitor as a container: `monitor run` as a non-root user, archive/ as a volume.
# The install step is the README's: a virtual environment and pip install of this project.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
RUN useradd --create-home --uid 10001 monitor

COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir . \
    && mkdir -p /app/archive && chown monitor:monitor /app/archive
ENV PATH="/opt/venv/bin:$PATH"

COPY config.toml ./
COPY rules ./rules
COPY samples ./samples

USER monitor
VOLUME ["/app/archive"]
# /healthz answers when [service] metrics_port is set; otherwise check the lock holder.
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD monitor status --config /app/config.toml | grep -q "service: running" || exit 1
CMD ["monitor", "run", "--config", "/app/config.toml"]

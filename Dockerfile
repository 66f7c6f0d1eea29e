# The news monitor as a container: `monitor run` as a non-root user. The configuration is a
# folder, /config (config.toml and rules/; compose mounts ./config there), and the archive
# lives in a volume of its own, /data. Mounting the folder, not the file: an editor that
# saves by rename, `sed -i` or `monitor feeds import` replace config.toml with a new file,
# which a single-file bind mount would never show the container.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# The user the service runs as; build with your own uid (compose: MONITOR_UID) so that it may
# write the mounted config folder, which `monitor feeds import` does.
ARG UID=10001
RUN useradd --create-home --uid "$UID" monitor

COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir . \
    && mkdir -p /data && chown monitor:monitor /data
ENV PATH="/opt/venv/bin:$PATH"

# A default config folder, the sample feeds and topics, for `docker run` without a mount;
# its archive is in /data.
COPY config.toml /config/
COPY rules /config/rules
COPY samples /config/samples
RUN sed -i 's|^url = "sqlite:///archive/monitor.db"|url = "sqlite:////data/monitor.db"|' \
        /config/config.toml \
    && grep -q 'sqlite:////data/monitor.db' /config/config.toml

USER monitor
# Every command finds the configuration without --config, also in `docker compose exec`,
# and relative paths given to a command (an OPML file put in the folder) are in it.
ENV MONITOR_CONFIG=/config/config.toml
WORKDIR /config
VOLUME ["/data"]
# /healthz answers when [service] metrics_port is set; otherwise check the lock holder.
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD monitor status | grep -q "service: running" || exit 1
CMD ["monitor", "run"]

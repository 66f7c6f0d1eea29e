# The news monitor as a container: `monitor run` as a non-root user. The configuration is a
# folder, /config (config.toml and rules/; compose mounts ./config there), and the archive
# lives in a volume of its own, /data. Mounting the folder, not the file: an editor that
# saves by rename, `sed -i` or `monitor feeds import` replace config.toml with a new file,
# which a single-file bind mount would never show the container.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# The user the service runs as; build with your own uid (compose: MONITOR_UID) so that it may
# write the mounted config folder, which `monitor feeds import` does.
ARG MONITOR_UID=10001
RUN useradd --create-home --uid "$MONITOR_UID" monitor
WORKDIR /app

# The dependencies first, from pyproject.toml alone, so that a change of the code does not
# install them again. EXTRAS: optional groups of pyproject.toml, e.g. "apprise".
ARG EXTRAS=""
COPY pyproject.toml ./
RUN python3 -m venv /opt/venv \
    && python3 -c 'import os, tomllib; p = tomllib.load(open("pyproject.toml", "rb")); extras = os.environ.get("EXTRAS", "").replace(",", " ").split(); print("\n".join(p["build-system"]["requires"] + p["project"]["dependencies"] + [d for e in extras for d in p["project"]["optional-dependencies"][e]]))' > requirements.txt \
    && /opt/venv/bin/pip install -r requirements.txt
# Then the code, without its dependencies (installed above) or a fresh build environment.
COPY README.md ./
COPY monitor ./monitor
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation . \
    && mkdir -p /data && chown monitor:monitor /data
ENV PATH="/opt/venv/bin:$PATH"

# A default config folder, the sample feeds and topics, for `docker run` without a mount:
# its archive in /data, /healthz on port 9108 for the health check below.
COPY config.toml /config/
COPY rules /config/rules
COPY samples /config/samples
RUN sed -i 's|^url = "sqlite:///archive/monitor.db"|url = "sqlite:////data/monitor.db"|' \
        /config/config.toml \
    && grep -q 'sqlite:////data/monitor.db' /config/config.toml \
    && printf '\n[service]\nmetrics_port = 9108\nmetrics_bind = "0.0.0.0"\n' >> /config/config.toml

USER monitor
# Every command finds the configuration without --config, also in `docker compose exec`,
# and relative paths given to a command (an OPML file put in the folder) are in it.
ENV MONITOR_CONFIG=/config/config.toml
WORKDIR /config
VOLUME ["/data"]
# Healthy while the scheduler ticks and polls finish (/healthz, [service] metrics_port must
# be 9108, or set MONITOR_HEALTHZ); an edit of config.toml that does not load is no failure:
# the service goes on with the last good one. Python's urllib: the slim image has no curl.
ENV MONITOR_HEALTHZ=http://127.0.0.1:9108/healthz
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['MONITOR_HEALTHZ'], timeout=5)"]
CMD ["monitor", "run"]

# The news monitor as a container: runs as a non-root user, archive/ is a volume.
FROM python:3.11-slim

WORKDIR /app
RUN useradd --create-home --uid 10001 monitor
COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN pip install --no-cache-dir .
COPY config.toml ./
COPY rules ./rules
COPY samples ./samples
RUN mkdir -p archive && chown monitor:monitor archive

USER monitor
VOLUME ["/app/archive"]
CMD ["monitor", "poll", "--once"]

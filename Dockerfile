# Modelyard's production image: `docker build -t modelyard .` (README, "Running it for a team").
# The server runs as an unprivileged user; its data directory (/data: the SQLite file, the
# artifacts, the admin token) is a volume; the health check asks /ready.

FROM python:3.11-slim AS build
WORKDIR /src
# The exact versions the tests ran with (requirements/constraints.txt), nothing newer.
COPY pyproject.toml README.md ./
COPY requirements/constraints.txt requirements/constraints.txt
COPY src ./src
RUN python -m venv /opt/modelyard \
 && /opt/modelyard/bin/pip install --no-cache-dir --disable-pip-version-check \
        -c requirements/constraints.txt .

FROM python:3.11-slim
RUN groupadd --system --gid 10001 modelyard \
 && useradd --system --uid 10001 --gid modelyard --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin modelyard \
 && mkdir -p /data && chown modelyard:modelyard /data
COPY --from=build /opt/modelyard /opt/modelyard
COPY docker/entrypoint.sh /usr/local/bin/modelyard-entrypoint
ENV PATH=/opt/modelyard/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MODELYARD_DATA_DIR=/data \
    MODELYARD_HOST=0.0.0.0 \
    MODELYARD_PORT=8080 \
    MODELYARD_AUTH=1
USER modelyard
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["modelyard-entrypoint", "healthcheck"]
ENTRYPOINT ["modelyard-entrypoint"]
CMD ["serve"]

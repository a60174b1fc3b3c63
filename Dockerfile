# gatekeeper worker image. Build context: the project root (see .dockerignore).
#   docker build -t gatekeeper .        (or: docker compose build worker)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Every runtime dependency has a manylinux wheel for cp311 (faust-streaming included), so no
# compiler is needed. README.md is listed as the project's readme in pyproject.toml.
COPY pyproject.toml README.md ./
COPY gatekeeper ./gatekeeper
RUN pip install . && rm -rf /src

# schemas/ and policies/ live at the project root, not in the package (gatekeeper/paths.py
# looks next to the package unless told otherwise).
COPY schemas /opt/gatekeeper/schemas
COPY policies /opt/gatekeeper/policies
ENV GATEKEEPER_SCHEMAS=/opt/gatekeeper/schemas \
    GATEKEEPER_POLICIES=/opt/gatekeeper/policies

RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/gatekeeper gatekeeper \
 && install -d -o gatekeeper -m 700 /var/lib/gatekeeper/keys   # API keys (a volume in compose)
USER gatekeeper
# faust creates "<app_id>-data/" in the working directory: keep it writable.
WORKDIR /var/lib/gatekeeper

# Prometheus metrics of the worker (GATEKEEPER_METRICS_PORT, default 9108); the HTTP API of
# gatekeeper serve (GATEKEEPER_HTTP; the compose file binds it to 0.0.0.0:8080)
EXPOSE 9108 8080
CMD ["gatekeeper", "worker"]

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
# setup.py copies schemas/ and policies/ into the wheel (gatekeeper/_data/), where
# gatekeeper/paths.py finds them; tests/cli/test_packaging.py builds from this same list.
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY gatekeeper ./gatekeeper
COPY schemas ./schemas
COPY policies ./policies
RUN pip install . && rm -rf /src

# keys/: API keys; console/: the console's index and accounts (volumes in compose)
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/gatekeeper gatekeeper \
 && install -d -o gatekeeper -m 700 /var/lib/gatekeeper/keys /var/lib/gatekeeper/console
USER gatekeeper
# faust creates "<app_id>-data/" in the working directory: keep it writable.
WORKDIR /var/lib/gatekeeper

# Prometheus metrics of the worker (GATEKEEPER_METRICS_PORT, default 9108); the HTTP API of
# gatekeeper serve (GATEKEEPER_HTTP; the compose file binds it to 0.0.0.0:8080)
EXPOSE 9108 8080
CMD ["gatekeeper", "worker"]

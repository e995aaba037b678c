# syntax=docker/dockerfile:1
# One image for every worker and the gateway; compose.yaml and deploy/k8s pick the process with
# `aiwf worker NAME` / `aiwf gateway`. Builds on linux/amd64 and linux/arm64:
#   docker buildx build --platform linux/amd64,linux/arm64 -t aiwf .
# The build stage has the compilers (the full python image carries gcc and headers) for any
# dependency without a wheel on the target; the runtime stage is slim and gets only the venv.
# The RUN steps use $VENV and relative paths only: tests/containers replays the build stage
# in a temporary directory, so keep it that way.
ARG PYTHON_IMAGE=python:3.11-bookworm
ARG RUNTIME_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV VENV=/opt/aiwf PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# Dependencies first, from the hash-pinned lock (tools/lock), so a code change reuses this layer.
COPY requirements.lock requirements-build.lock ./
RUN python -m venv "$VENV" && "$VENV/bin/pip" install --require-hashes -r requirements.lock \
 && "$VENV/bin/pip" install --require-hashes -r requirements-build.lock
COPY pyproject.toml README.md ./
COPY bus bus
COPY schemas schemas
COPY workers workers
COPY dlq dlq
COPY cli cli
COPY gateway gateway
# The project itself without dependencies or a build environment: everything came from the
# locks. The build backend then leaves the venv, and pip check fails the build if the lock and
# pyproject.toml disagree.
RUN "$VENV/bin/pip" install --no-deps --no-build-isolation . \
 && "$VENV/bin/pip" uninstall -y setuptools wheel && "$VENV/bin/pip" check

FROM ${RUNTIME_IMAGE} AS runtime
# A fixed uid/gid so Kubernetes' runAsUser/fsGroup and host-mounted secrets can name them.
ARG AIWF_UID=10001
ARG AIWF_GID=10001
# The service user owns its data directories. A named volume mounted on /data/blobs starts as
# a copy of the image's directory, owner included: without this the blob volume is root's and
# every speech request dead-letters. /run/aiwf holds what the init service generates
# (keys, certificates, Redis passwords) when it is not a mounted secret.
RUN groupadd --system --gid "$AIWF_GID" aiwf \
 && useradd --system --uid "$AIWF_UID" --gid aiwf --home-dir /data --no-create-home --shell /usr/sbin/nologin aiwf \
 && install -d -o "$AIWF_UID" -g "$AIWF_GID" -m 0750 /data \
 && install -d -o "$AIWF_UID" -g "$AIWF_GID" -m 0770 /data/blobs \
 && install -d -o "$AIWF_UID" -g "$AIWF_GID" -m 0700 /run/aiwf
COPY --from=build /opt/aiwf /opt/aiwf
ENV PATH=/opt/aiwf/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/data \
    AIWF_DATA_DIR=/data \
    AIWF_BLOB_DIR=/data/blobs \
    AIWF_HEALTH_PORT=8080
WORKDIR /data
USER ${AIWF_UID}:${AIWF_GID}
EXPOSE 8080
# Workers answer GET /health on AIWF_HEALTH_PORT; the gateway's service sets its own check.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/health' % os.environ.get('AIWF_HEALTH_PORT', '8080'); sys.exit(urllib.request.urlopen(url, timeout=2).status != 200)"]
CMD ["aiwf", "--help"]

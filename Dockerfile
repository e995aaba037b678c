# One image for every worker; compose.yaml picks the worker with `aiwf worker NAME`.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bus bus
COPY schemas schemas
COPY workers workers
COPY dlq dlq
COPY cli cli
RUN pip install --no-cache-dir . && useradd --create-home aiwf
USER aiwf
ENV AIWF_DATA_DIR=/data AIWF_BLOB_DIR=/data/blobs AIWF_HEALTH_PORT=8080
EXPOSE 8080
CMD ["aiwf", "--help"]

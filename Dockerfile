# A formula-ocr Celery worker: `docker compose up --scale worker=N` (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY worker worker
COPY ocr_model ocr_model
COPY segmentation segmentation
COPY training training
COPY model_data model_data
# CPU-only torch wheels: the default PyPI ones pull in gigabytes of CUDA libraries.
RUN pip install --index-url https://download.pytorch.org/whl/cpu \
        --extra-index-url https://pypi.org/simple .

# Celery refuses nothing as root but warns; a worker reading untrusted files should not be root.
RUN useradd --create-home --uid 1000 ocr
USER ocr
CMD ["celery", "-A", "worker", "worker", "--loglevel=INFO"]

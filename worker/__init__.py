"""Orchestration: the pipeline, the ``formula-ocr`` command line and the Celery tasks.

Kept free of imports so that the CLI and ``worker.schema`` load without Celery; Celery finds its
app in ``worker.celery`` (``celery -A worker worker``).
"""

"""The Celery app: ``celery -A worker worker`` (from the repository root) finds ``app`` here.

All settings come from ``worker.config`` (environment variables); the tasks live in
``worker.tasks`` and are imported by the worker only, so ``formula-ocr submit`` stays light.

Usage:
    $ FORMULA_OCR_BROKER_URL=redis://127.0.0.1:6379/0 celery -A worker worker --loglevel=INFO
"""

from __future__ import annotations

import os

from celery import Celery, signals

from worker.config import WorkerConfig, celery_settings


def configure(config: WorkerConfig) -> None:
    """Apply a configuration to ``app`` (done once at import from the environment)."""
    app.conf.update(celery_settings(config), formula_ocr=config)


app = Celery("formula_ocr", include=["worker.tasks"])
configure(WorkerConfig.from_env())


@signals.worker_init.connect
def _share_cores_among_children(sender, **_: object) -> None:
    # Runs in the parent before the pool forks: children inherit the variable, and
    # ocr_model.predictor.default_threads() gives each cores / children torch threads,
    # whether concurrency came from the environment or from `celery worker -c N`.
    os.environ["FORMULA_OCR_CONCURRENCY"] = str(sender.concurrency)

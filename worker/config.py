"""Every worker setting in one place, read from ``FORMULA_OCR_*`` environment variables.

``WorkerConfig.from_env()`` is what the Celery app, the tasks and ``formula-ocr submit`` use, so
a deployment is configured by environment alone (docker-compose.yml sets the same variables).
``celery_settings()`` turns it into Celery's own setting names; the README lists every variable.

Redis passwords and TLS need no extra settings because they are part of the URL:
``redis://:PASSWORD@host:6379/0`` or ``rediss://:PASSWORD@host:6380/0?ssl_cert_reqs=required``
(Celery refuses ``rediss://`` without ``ssl_cert_reqs``; ``none`` skips certificate checks and
is only for self-signed test setups).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segmentation.rasterize import InputLimits
from worker.pipeline import PipelineSettings

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"


class InputRefused(ValueError):
    """An input path the worker must not read (outside the input roots, or using ``..``)."""


def _cpu_count() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class WorkerConfig:
    """Worker, queue and safety settings; each field's variable is ``FORMULA_OCR_<FIELD>``."""

    broker_url: str = DEFAULT_BROKER_URL  # FORMULA_OCR_BROKER_URL
    result_backend: str = ""  # FORMULA_OCR_RESULT_BACKEND; empty: same as the broker
    concurrency: int = field(default_factory=_cpu_count)  # prefork children per worker
    # Limits per task (a small document or a batch of pages_per_task pages). The soft limit
    # raises inside Python; only the hard limit can stop a render stuck in C code.
    soft_time_limit: float = 240.0
    time_limit: float = 300.0
    # Redis redelivers a message unacked this long after it was fetched. A fetched message may
    # wait for the task before it (prefetch 1) and then run, hence twice the hard limit + margin.
    visibility_timeout: float = 0.0  # 0: 2 * time_limit + 60
    max_tasks_per_child: int = 500  # recycle children: bounds slow leaks (MuPDF, allocator)
    max_memory_per_child_mb: int = 2048  # checked after each task; recycles a bloated child
    result_expires_s: int = 7 * 24 * 3600  # task results and job records live this long
    max_deliveries: int = 3  # a task delivered this often without finishing is poison
    fanout_min_pages: int = 4  # documents with more pages than this are split into page tasks
    pages_per_task: int = 2  # pages per page task: smaller spreads better, larger costs less
    recent_jobs: int = 200  # how many jobs `formula-ocr jobs` remembers
    input_roots: tuple[Path, ...] = ()  # FORMULA_OCR_INPUT_ROOTS (os.pathsep list); empty: any
    checkpoint: Path | None = None  # FORMULA_OCR_CHECKPOINT; None: the shipped model
    # What the pipeline does, with its defaults (a worker's settings are part of the job key).
    dpi: int = PipelineSettings.dpi
    low_confidence_threshold: float = PipelineSettings.low_confidence_threshold
    use_text_layer: bool = PipelineSettings.use_text_layer  # "0"/"false" to turn off
    max_file_bytes: int = InputLimits.max_file_bytes  # larger inputs are refused unread
    max_pages: int = InputLimits.max_pages  # per document
    max_page_pixels: int = InputLimits.max_page_pixels  # per page, checked before rendering

    @property
    def backend_url(self) -> str:
        return self.result_backend or self.broker_url

    @property
    def effective_visibility_timeout(self) -> float:
        return self.visibility_timeout or 2 * self.time_limit + 60

    def check_input(self, path: str | Path) -> Path:
        """The absolute, symlink-free path of an input the worker may read.

        Raises:
            InputRefused: ``..`` in the path, or (with input roots set) a path outside them.
        """
        if ".." in Path(path).parts:
            raise InputRefused(f"{path}: '..' is not allowed in input paths")
        resolved = Path(path).resolve()
        if self.input_roots and not any(resolved.is_relative_to(r) for r in self.input_roots):
            roots = os.pathsep.join(map(str, self.input_roots))
            raise InputRefused(f"{path}: outside the input roots {roots} (FORMULA_OCR_INPUT_ROOTS)")
        return resolved

    def pipeline_settings(self) -> PipelineSettings:
        limits = InputLimits(
            max_file_bytes=self.max_file_bytes,
            max_pages=self.max_pages,
            max_page_pixels=self.max_page_pixels,
        )
        return PipelineSettings(
            dpi=self.dpi,
            low_confidence_threshold=self.low_confidence_threshold,
            limits=limits,
            use_text_layer=self.use_text_layer,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerConfig:
        """Read ``FORMULA_OCR_<FIELD>`` for every field; unset variables keep the default."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, current in cls().__dict__.items():
            raw = env.get(f"FORMULA_OCR_{name.upper()}")
            if raw is None or raw == "":
                continue
            if name == "input_roots":
                values[name] = tuple(Path(p).resolve() for p in raw.split(os.pathsep) if p)
            elif name == "checkpoint":
                values[name] = Path(raw)
            elif isinstance(current, bool):
                values[name] = raw.strip().lower() in ("1", "true", "yes", "on")
            else:
                values[name] = type(current)(raw)
        return cls(**values)


def celery_settings(config: WorkerConfig) -> dict[str, Any]:
    """Celery's settings for ``config``; why each one is set is said next to it."""
    transport = {"visibility_timeout": config.effective_visibility_timeout}
    return {
        "broker_url": config.broker_url,
        "result_backend": config.backend_url,
        # JSON only: a pickle message from anyone who can write to Redis would run code.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        # Ack after the task and requeue when the child dies (kill -9, OOM): nothing is lost.
        # Tasks are idempotent and poison messages are capped by a delivery counter (tasks.py).
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # With late acks this reserves exactly one task per child, so a long document never
        # holds other documents hostage in a busy child's prefetch buffer.
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": config.concurrency,
        "task_soft_time_limit": config.soft_time_limit,
        "task_time_limit": config.time_limit,
        "broker_transport_options": transport,
        "result_backend_transport_options": transport,
        "visibility_timeout": config.effective_visibility_timeout,
        "worker_max_tasks_per_child": config.max_tasks_per_child,
        "worker_max_memory_per_child": config.max_memory_per_child_mb * 1024,  # KiB
        "task_track_started": True,
        "result_expires": config.result_expires_s,
        "result_extended": True,  # task name and args in results, for Flower and `status`
        # Events let Flower (and `celery events`) show workers and tasks live.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        # A broker disconnect makes Redis redeliver unacked tasks; cancelling the running
        # copies stops the same late-ack task from running twice (celery#6654).
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # keep reconnecting after a Redis restart
    }

"""Celery tasks: thin adapters over ``worker.pipeline``; arguments are paths, ids and JSON.

A job is one ``convert_document`` task whose Celery id is the job id. A document with at most
``fanout_min_pages`` pages is processed right there with ``process_document`` (a fan-out costs
more than it saves on a few pages); a longer one is split into ``recognize_pages`` tasks of
``pages_per_task`` pages, so every worker process helps, and the page task that completes the
set sends one ``assemble_document`` task (with the job id as its task id, so the job's Celery
result is the final summary) that writes the JSON with ``pipeline.save_outputs``.

Nothing is lost and nothing loops forever:
- late acks + reject on worker lost requeue the task of a child that died (kill -9, OOM);
- page results are kept in Redis as they finish, so a redelivered page task only redoes the
  pages it had not finished, and writing them again is harmless;
- every task counts its deliveries in Redis; past ``max_deliveries`` the pages (or the document)
  get an error saying so and the job finishes without them;
- a task over its time limit has its unfinished pages marked with the reason (``on_failure``
  runs in the worker's main process after a hard limit kill) and the rest of the job goes on;
- a job key (document sha256 + model version + settings) remembers finished documents, so a
  re-submission copies the existing result instead of recognizing anything again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
from celery import Task
from celery.exceptions import Ignore, SoftTimeLimitExceeded, TimeLimitExceeded
from celery.utils.log import get_task_logger

from ocr_model import Recognizer, load_recognizer
from ocr_model.checkpoint import file_sha256
from ocr_model.predictor import default_threads
from segmentation import FormulaDetector
from segmentation.rasterize import InputError, InputLimits, inspect_source
from worker import jobs as job_states
from worker.celery import app
from worker.config import InputRefused, WorkerConfig
from worker.jobs import JobStore
from worker.pipeline import (
    PipelineSettings,
    assemble_document,
    process_document,
    process_page,
    save_outputs,
)
from worker.schema import DocumentResult, PageResult

logger = get_task_logger(__name__)


@functools.cache
def _models(checkpoint: Path | None) -> tuple[Recognizer, FormulaDetector]:
    # Only ever called from a task body, i.e. in the pool child after the fork: torch and
    # OpenMP threads started in the parent before fork can deadlock the children.
    cv2.setNumThreads(default_threads())
    return load_recognizer(checkpoint), FormulaDetector()


@functools.cache
def _job_store(url: str, expires_s: int, recent: int) -> JobStore:
    return JobStore.from_url(url, expires_s, recent)


class PipelineTask(Task):
    """Base of the formula-ocr tasks: configuration, job records and the models.

    The models load lazily on first use, once per process (a cache shared by all tasks of the
    process), so the worker's parent never holds torch threads and each child loads once.
    """

    @property
    def config(self) -> WorkerConfig:
        return self.app.conf.formula_ocr

    @property
    def jobs(self) -> JobStore:
        config = self.config
        return _job_store(config.backend_url, config.result_expires_s, config.recent_jobs)

    @property
    def models(self) -> tuple[Recognizer, FormulaDetector]:
        return _models(self.config.checkpoint)


def job_key(path: Path, model: dict[str, Any], settings: PipelineSettings, detector: object) -> str:
    """What decides a document's result: its bytes, the model (``Recognizer.info``: weights,
    backend and decoder), the settings and the detector."""
    digest = hashlib.sha256()
    model_part = json.dumps(model, sort_keys=True)
    for part in (file_sha256(path), model_part, json.dumps(asdict(settings), sort_keys=True)):
        digest.update(part.encode() + b"\0")
    digest.update(repr(detector).encode())
    return digest.hexdigest()


def _settings_from_dict(data: dict[str, Any]) -> PipelineSettings:
    return PipelineSettings(**{**data, "limits": InputLimits(**data["limits"])})


def _failure_reason(exc: BaseException, config: WorkerConfig) -> str:
    if isinstance(exc, TimeLimitExceeded):
        return f"stopped: over the hard time limit of {config.time_limit:g} s per task"
    if isinstance(exc, SoftTimeLimitExceeded):
        return f"stopped: over the soft time limit of {config.soft_time_limit:g} s per task"
    return f"internal error: {type(exc).__name__}: {exc}"


def _poison_reason(deliveries: int) -> str:
    return (
        f"gave up after {deliveries} deliveries: the worker process died each time "
        "(crash, out of memory or killed)"
    )


def _finish(jobs: JobStore, job_id: str, result: DocumentResult) -> dict[str, Any]:
    """Write the document's JSON (atomically, once per delivery) and close the job record."""
    record = jobs.get(job_id) or {}
    paths = save_outputs(
        result, Path(record["out_dir"]), record["name"], record.get("formats", ["json"])
    )
    ok = result.status == "ok"
    jobs.update(
        job_id,
        state=job_states.SUCCESS if ok else job_states.FAILURE,
        output=str(paths["json"]),
        error=result.error,
        pages_total=len(result.pages),
        pages_done=len(result.pages),
        page_errors=sum(page.error is not None for page in result.pages),
        finished=time.time(),
    )
    if ok and record.get("key"):
        jobs.mark_finished(record["key"], {"output": str(paths["json"]), "job_id": job_id})
    return jobs.get(job_id) or {}


def _reuse(jobs: JobStore, job_id: str, source: Path, done: dict[str, Any]) -> dict[str, Any]:
    """A finished identical document: reuse its JSON, rewritten only where it has to differ."""
    record = jobs.get(job_id) or {}
    target = Path(record["out_dir"]).resolve() / f"{record['name']}.json"
    formats = record.get("formats", ["json"])
    if Path(done["output"]).resolve() != target or formats != ["json"]:
        result = DocumentResult.from_dict(json.loads(Path(done["output"]).read_text("utf-8")))
        result.source = str(source)
        save_outputs(result, Path(record["out_dir"]), record["name"], formats)
    pages = json.loads(target.read_text("utf-8"))["pages"]
    jobs.update(
        job_id,
        state=job_states.SUCCESS,
        cached=True,
        reused_job=done["job_id"],
        output=str(target),
        pages_total=len(pages),
        pages_done=len(pages),
        finished=time.time(),
    )
    return jobs.get(job_id) or {}


def _report_progress(task: Task, job_id: str, done: int, total: int) -> None:
    task.update_state(
        task_id=job_id, state="PROGRESS", meta={"pages_done": done, "pages_total": total}
    )


def _dispatch_pages(job_id: str, indices: list[int], pages_per_task: int) -> None:
    for start in range(0, len(indices), pages_per_task):
        recognize_pages.apply_async((job_id, indices[start : start + pages_per_task]))


def _assemble_when_complete(jobs: JobStore, job_id: str, claimer: str) -> None:
    record = jobs.get(job_id) or {}
    if record.get("pages_done", 0) >= record.get("pages_total", 1) and jobs.claim_assembly(
        job_id, claimer
    ):
        assemble.apply_async((job_id,), task_id=job_id)


def _document_failed(self: PipelineTask, exc, task_id, args, kwargs, einfo) -> None:
    """The document task failed or hit a time limit: save what is done and go on without it."""
    jobs, reason = self.jobs, _failure_reason(exc, self.config)
    logger.error("job %s: %s", task_id, reason)
    record = jobs.get(task_id) or {}
    if "pages_total" not in record or "settings" not in record:
        # Stopped before the document was opened: the JSON records the document as failed.
        # The model is in the record once the task has loaded it (assemble reads it there).
        jobs.update(task_id, settings=asdict(self.config.pipeline_settings()))
        assemble.apply_async((task_id,), {"error": reason}, task_id=task_id)
        return
    missing = sorted(set(range(record["pages_total"])) - set(jobs.stored_pages(task_id)))
    if missing:
        # Pages run in order, so the first missing page is the one that was running.
        jobs.store_page(task_id, PageResult(index=missing[0], error=reason))
        _dispatch_pages(task_id, missing[1:], self.config.pages_per_task)
    _assemble_when_complete(jobs, task_id, claimer=task_id)


def _pages_failed(self: PipelineTask, exc, task_id, args, kwargs, einfo) -> None:
    """A page task failed or hit a time limit: its unfinished pages get the reason."""
    job_id, indices = args
    jobs, reason = self.jobs, _failure_reason(exc, self.config)
    logger.error("job %s pages %s: %s", job_id, indices, reason)
    stored = jobs.stored_pages(job_id)
    for index in indices:
        if index not in stored:
            jobs.store_page(job_id, PageResult(index=index, error=reason))
    _assemble_when_complete(jobs, job_id, claimer=task_id)


@app.task(
    bind=True, base=PipelineTask, name="formula_ocr.convert_document", on_failure=_document_failed
)
def convert_document(self: PipelineTask, path: str, out_dir: str, name: str) -> dict[str, Any]:
    """One document job: recognize it here or fan it out; returns the job record.

    Args:
        path: the document, on storage the workers share; must be under the input roots.
        out_dir: where ``<name>.json`` goes.
        name: output file stem (``pipeline.output_name``); sanitized again when writing.
    """
    job_id, config, jobs = self.request.id, self.config, self.jobs
    deliveries = jobs.count_delivery(self.name, job_id)
    jobs.update(job_id, source=path, out_dir=out_dir, name=name)
    try:
        source = config.check_input(path)
    except InputRefused as exc:
        # Refused paths are never opened, so no JSON is written next to anything.
        jobs.update(job_id, state=job_states.FAILURE, error=str(exc), finished=time.time())
        return jobs.get(job_id) or {}
    settings = config.pipeline_settings()
    jobs.update(job_id, source=str(source), settings=asdict(settings))
    if deliveries > config.max_deliveries:
        error = _poison_reason(deliveries - 1)
        model = self.models[0].info
        return _finish(jobs, job_id, assemble_document(source, [], settings, model, error=error))
    jobs.update(
        job_id,
        state=job_states.STARTED,
        deliveries=deliveries,
        worker=f"{self.request.hostname}:{os.getpid()}",
    )

    recognizer, detector = self.models
    # Recorded before the document is opened, so a time limit there still names the model.
    jobs.update(job_id, model=recognizer.info)
    try:
        key = job_key(source, recognizer.info, settings, detector)
        info = inspect_source(source, settings.limits, settings.password)
    except (InputError, OSError):
        key, info = None, None  # process_document below records why it cannot be read
    done = jobs.finished_output(key) if key else None
    if done and Path(done["output"]).is_file():
        return _reuse(jobs, job_id, source, done)
    jobs.update(job_id, key=key)

    if info is None or info.page_count <= config.fanout_min_pages:
        if info is not None:
            jobs.update(job_id, pages_total=info.page_count, warnings=info.warnings)

        def progress(done: int, total: int, page: PageResult) -> None:
            jobs.store_page(job_id, page)  # lets on_failure keep finished pages
            jobs.update(job_id, state=job_states.PROGRESS)
            _report_progress(self, job_id, done, total)

        result = process_document(source, settings, recognizer, detector, progress)
        jobs.count_recognized(len(result.pages))
        return _finish(jobs, job_id, result)

    jobs.update(
        job_id, state=job_states.PROGRESS, pages_total=info.page_count, warnings=info.warnings
    )
    _report_progress(self, job_id, (jobs.get(job_id) or {}).get("pages_done", 0), info.page_count)
    _dispatch_pages(job_id, list(range(info.page_count)), config.pages_per_task)
    # The job's result comes from the assembly task (same id); storing one here would end it.
    raise Ignore()


@app.task(
    bind=True, base=PipelineTask, name="formula_ocr.recognize_pages", on_failure=_pages_failed
)
def recognize_pages(self: PipelineTask, job_id: str, indices: list[int]) -> int:
    """Recognize some pages of a fanned-out document; returns how many it recognized."""
    jobs = self.jobs
    record = jobs.get(job_id)
    if record is None:
        logger.warning("job %s expired or unknown; dropping pages %s", job_id, indices)
        return 0
    deliveries = jobs.count_delivery(self.name, self.request.id)
    stored = jobs.stored_pages(job_id)
    todo = [index for index in indices if index not in stored]
    recognized = 0
    if deliveries > self.config.max_deliveries:
        for index in todo:
            jobs.store_page(job_id, PageResult(index=index, error=_poison_reason(deliveries - 1)))
    else:
        source, settings = Path(record["source"]), _settings_from_dict(record["settings"])
        recognizer, detector = self.models
        for index in todo:
            try:
                page = process_page(source, index, settings, recognizer, detector)
            except InputError as exc:  # the file changed or vanished since it was inspected
                page = PageResult(index=index, error=str(exc))
            done = jobs.store_page(job_id, page)
            recognized += 1
            _report_progress(self, job_id, done, record["pages_total"])
        jobs.count_recognized(recognized)
    _assemble_when_complete(jobs, job_id, claimer=self.request.id)
    return recognized


def _assembly_failed(self: PipelineTask, exc, task_id, args, kwargs, einfo) -> None:
    reason = _failure_reason(exc, self.config)
    logger.error("job %s: cannot write the result: %s", task_id, reason)
    self.jobs.update(task_id, state=job_states.FAILURE, error=reason, finished=time.time())


@app.task(
    bind=True, base=PipelineTask, name="formula_ocr.assemble_document", on_failure=_assembly_failed
)
def assemble(self: PipelineTask, job_id: str, error: str | None = None) -> dict[str, Any]:
    """Put a job's pages together and write its JSON; returns the job record."""
    jobs = self.jobs
    record = jobs.get(job_id)
    if record is None:
        logger.warning("job %s expired or unknown; nothing to assemble", job_id)
        return {}
    pages = list(jobs.stored_pages(job_id).values())
    result = assemble_document(
        record["source"],
        pages,
        _settings_from_dict(record["settings"]),
        record.get("model", {}),
        error=error,
        warnings=record.get("warnings", []),
    )
    return _finish(jobs, job_id, result)

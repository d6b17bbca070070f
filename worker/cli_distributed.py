"""``formula-ocr submit``, ``status`` and ``jobs``: queue documents for Celery workers on Redis.

Only the broker and the job records are touched here (tasks are sent by name), so submitting
does not import the tasks or load any model. Settings come from the same ``FORMULA_OCR_*``
variables as the workers' (``worker.config``).

Usage:
    formula-ocr submit scans/ --out results/ --wait
    formula-ocr status 3f0c...; formula-ocr jobs
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from worker.celery import app
from worker.cli_export import add_output_formats_option
from worker.config import InputRefused, WorkerConfig
from worker.jobs import FAILURE, FINAL_STATES, SUCCESS, JobStore

POLL_S = 0.5


def _store(config: WorkerConfig) -> JobStore:
    return JobStore.from_url(config.backend_url, config.result_expires_s, config.recent_jobs)


def submit(
    config: WorkerConfig,
    path: Path,
    out_dir: Path,
    name: str,
    formats: Sequence[str] = ("json",),
) -> str:
    """Queue one document; returns the job id (the Celery task id of its document task).

    ``formats`` are the outputs the worker writes, as ``convert --format`` (JSON always).

    Raises:
        InputRefused: the path is outside the input roots or uses ``..``.
    """
    source = config.check_input(path)
    out_dir = out_dir.resolve()
    job_id = str(uuid.uuid4())
    _store(config).create(
        job_id, source=str(source), out_dir=str(out_dir), name=name, formats=list(formats)
    )
    app.send_task("formula_ocr.convert_document", (str(source), str(out_dir), name), task_id=job_id)
    return job_id


def _describe(record: dict[str, Any]) -> str:
    pages = f"{record.get('pages_done', 0)}/{record.get('pages_total', '?')} pages"
    line = f"{record['id']}  {record['state']:<8} {pages:<14} {record.get('source', '')}"
    if record.get("output"):
        line += f" -> {record['output']}"
    if record.get("cached"):
        line += " (already done, reused)"
    if record.get("error"):
        line += f"  error: {record['error']}"
    elif record.get("page_errors"):
        line += f"  ({record['page_errors']} pages with errors)"
    return line


def _succeeded(record: dict[str, Any]) -> bool:
    return record["state"] == SUCCESS and not record.get("page_errors")


def wait_for(store: JobStore, job_ids: list[str], timeout: float | None) -> int:
    """Show page progress until every job is final; 0 when all succeeded without page errors."""
    deadline = None if timeout is None else time.monotonic() + timeout
    pending = set(job_ids)
    records: dict[str, dict[str, Any]] = {}
    with tqdm(total=0, unit="page", desc="pages") as bar:
        while pending:
            for job_id in list(pending):
                records[job_id] = store.get(job_id) or {"id": job_id, "state": FAILURE}
                if records[job_id]["state"] in FINAL_STATES:
                    pending.discard(job_id)
                    tqdm.write(_describe(records[job_id]))
            bar.total = sum(int(r.get("pages_total") or 0) for r in records.values())
            bar.n = sum(int(r.get("pages_done") or 0) for r in records.values())
            bar.refresh()
            if pending and deadline is not None and time.monotonic() > deadline:
                print(f"timed out; {len(pending)} jobs still running", file=sys.stderr)
                return 1
            if pending:
                time.sleep(POLL_S)
    return 0 if all(_succeeded(r) for r in records.values()) else 1


def run_submit(args: argparse.Namespace) -> int:
    """Queue every document (folders expanded like ``convert``); ``--wait`` follows them."""
    from worker.cli import collect_documents  # here: worker.cli imports this module

    config: WorkerConfig = app.conf.formula_ocr
    job_ids, refused = [], 0
    for document in collect_documents(args.inputs, args.recursive):
        try:
            job_id = submit(config, document.path, args.out, document.name, args.formats)
        except InputRefused as exc:
            print(f"refused: {exc}", file=sys.stderr)
            refused += 1
            continue
        job_ids.append(job_id)
        print(f"{job_id}\t{document.path}")
    if not job_ids:
        return 1
    status = wait_for(_store(config), job_ids, args.timeout) if args.wait else 0
    return 1 if refused else status


def run_status(args: argparse.Namespace) -> int:
    """Print each job's state and progress; 1 when any id is unknown."""
    store, status = _store(app.conf.formula_ocr), 0
    for job_id in args.job_ids:
        record = store.get(job_id)
        if record is None:
            print(f"{job_id}  unknown job (expired, or never submitted)")
            status = 1
            continue
        print(_describe(record))
    return status


def run_jobs(args: argparse.Namespace) -> int:
    """List the most recent jobs, newest first."""
    for record in _store(app.conf.formula_ocr).recent_jobs(args.limit):
        print(_describe(record))
    return 0


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``submit``, ``status`` and ``jobs`` to the ``formula-ocr`` parser."""
    formatter = argparse.ArgumentDefaultsHelpFormatter
    submit_parser = subparsers.add_parser(
        "submit",
        help="queue documents for Celery workers (Redis: FORMULA_OCR_BROKER_URL)",
        description=(
            "Queue each document (folders are expanded) as a job for `celery -A worker worker`; "
            "workers write OUT/<name>.json as `convert` does. Prints one job id per document."
        ),
        formatter_class=formatter,
    )
    submit_parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    submit_parser.add_argument(
        "--out", type=Path, required=True, help="results folder, as the workers see it"
    )
    submit_parser.add_argument("--recursive", action="store_true", help="descend into subfolders")
    add_output_formats_option(submit_parser)
    submit_parser.add_argument(
        "--wait", action="store_true", help="show progress until every JSON is written"
    )
    submit_parser.add_argument(
        "--timeout", type=float, default=None, help="with --wait: give up after this many s"
    )
    submit_parser.set_defaults(func=run_submit)

    status_parser = subparsers.add_parser(
        "status", help="state and page progress of submitted jobs", formatter_class=formatter
    )
    status_parser.add_argument("job_ids", nargs="+", metavar="JOB_ID")
    status_parser.set_defaults(func=run_status)

    jobs_parser = subparsers.add_parser(
        "jobs", help="recently submitted jobs, newest first", formatter_class=formatter
    )
    jobs_parser.add_argument("--limit", type=int, default=20, help="how many to list")
    jobs_parser.set_defaults(func=run_jobs)

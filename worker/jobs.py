"""Job records in Redis: what ``formula-ocr status`` and ``jobs`` show, and the fan-in of pages.

Celery's own results say whether a task ran; a document job is several tasks (the document, its
page tasks, the assembly), so its state lives here, under keys that all expire:

- ``formula_ocr:job:<id>`` hash: source, out_dir, name, state, pages_total, output, error, ...
- ``formula_ocr:job:<id>:pages`` hash: page index -> the page's result as JSON. Writing a page is
  idempotent, so a redelivered page task overwrites rather than adds, and pages done is its size.
- ``formula_ocr:jobs``: the most recent job ids, newest first.
- ``formula_ocr:deliveries:<task name>:<task id>``: how often a task was started (poison cap).
- ``formula_ocr:done:<job key>``: where a finished document's JSON is (re-submissions skip work).
- ``formula_ocr:stats:pages_recognized``: pages run through the recognizer, all jobs together.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import redis

from worker.schema import PageResult

PREFIX = "formula_ocr"
# Job states, in order; SUCCESS and FAILURE are final (FAILURE still has a JSON where possible).
QUEUED, STARTED, PROGRESS, SUCCESS, FAILURE = "QUEUED", "STARTED", "PROGRESS", "SUCCESS", "FAILURE"
FINAL_STATES = frozenset({SUCCESS, FAILURE})


@dataclass
class JobStore:
    """Reads and writes job records; one per process, cheap to create.

    Args:
        client: a Redis client with ``decode_responses=True``.
        expires_s: every key expires this long after its last write.
        recent: how many job ids the recent-jobs list keeps.
    """

    client: redis.Redis
    expires_s: int = 7 * 24 * 3600
    recent: int = 200

    @classmethod
    def from_url(cls, url: str, expires_s: int = 7 * 24 * 3600, recent: int = 200) -> JobStore:
        return cls(redis.Redis.from_url(url, decode_responses=True), expires_s, recent)

    def _job(self, job_id: str) -> str:
        return f"{PREFIX}:job:{job_id}"

    def create(self, job_id: str, **fields: Any) -> None:
        """Record a submitted job and put it at the top of the recent list."""
        key = self._job(job_id)
        with self.client.pipeline() as pipe:
            fields = {"id": job_id, "state": QUEUED, "submitted": time.time(), **fields}
            pipe.hset(key, mapping={k: _encode(v) for k, v in fields.items()})
            pipe.expire(key, self.expires_s)
            pipe.lpush(f"{PREFIX}:jobs", job_id)
            pipe.ltrim(f"{PREFIX}:jobs", 0, self.recent - 1)
            pipe.execute()

    def update(self, job_id: str, **fields: Any) -> None:
        key = self._job(job_id)
        with self.client.pipeline() as pipe:
            pipe.hset(key, mapping={k: _encode(v) for k, v in fields.items()})
            pipe.expire(key, self.expires_s)
            pipe.execute()

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job's record with ``pages_done`` filled in, or ``None`` for an unknown id."""
        raw = self.client.hgetall(self._job(job_id))
        if not raw:
            return None
        record: dict[str, Any] = {k: _decode(v) for k, v in raw.items()}
        if record.get("state") in FINAL_STATES:
            record.setdefault("pages_done", record.get("pages_total", 0))
        else:
            record["pages_done"] = self.client.hlen(f"{self._job(job_id)}:pages")
        return record

    def recent_jobs(self, limit: int = 20) -> list[dict[str, Any]]:
        ids = self.client.lrange(f"{PREFIX}:jobs", 0, limit - 1)
        return [record for record in map(self.get, ids) if record is not None]

    def store_page(self, job_id: str, page: PageResult) -> int:
        """Keep one page's result; returns how many distinct pages the job has now."""
        key = f"{self._job(job_id)}:pages"
        with self.client.pipeline() as pipe:
            pipe.hset(key, str(page.index), json.dumps(page.to_dict()))
            pipe.expire(key, self.expires_s)
            pipe.hlen(key)
            return int(pipe.execute()[2])

    def stored_pages(self, job_id: str) -> dict[int, PageResult]:
        raw = self.client.hgetall(f"{self._job(job_id)}:pages")
        return {int(k): PageResult.from_dict(json.loads(v)) for k, v in raw.items()}

    def claim_assembly(self, job_id: str, claimer: str) -> bool:
        """True for exactly one claimer (and its redeliveries), so one assembly task is sent."""
        key = f"{self._job(job_id)}:assembly"
        if self.client.set(key, claimer, nx=True, ex=self.expires_s):
            return True
        return self.client.get(key) == claimer

    def count_delivery(self, task_name: str, task_id: str) -> int:
        """Count one more start of a task; a message redelivered after a crash counts again."""
        key = f"{PREFIX}:deliveries:{task_name}:{task_id}"
        with self.client.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, self.expires_s)
            return int(pipe.execute()[0])

    def finished_output(self, job_key: str) -> dict[str, Any] | None:
        raw = self.client.get(f"{PREFIX}:done:{job_key}")
        return json.loads(raw) if raw else None

    def mark_finished(self, job_key: str, info: dict[str, Any]) -> None:
        self.client.set(f"{PREFIX}:done:{job_key}", json.dumps(info), ex=self.expires_s)

    def count_recognized(self, pages: int) -> None:
        self.client.incrby(f"{PREFIX}:stats:pages_recognized", pages)

    def pages_recognized(self) -> int:
        return int(self.client.get(f"{PREFIX}:stats:pages_recognized") or 0)


def _encode(value: Any) -> str:
    # Hash fields are strings; JSON keeps numbers, None and lists round-tripping.
    return json.dumps(value)


def _decode(value: str) -> Any:
    return json.loads(value)

"""Real ``celery -A worker worker`` processes (prefork) on the real Redis, killed and cut off.

Worker settings for this module (environment, as in production): one child, one page per task,
documents of 2+ pages fanned out, 2 deliveries before a task is poison, a 5 s soft / 6 s hard
time limit and a 20 s visibility timeout. Broker and results are a ``redis-server`` of the tests'
own on port 6390 (never the shared one), so the last test can restart it under the worker.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pymupdf
import pytest
import redis
from celery import Celery

from ocr_model.onnx_backend import exported_graph
from worker.jobs import FINAL_STATES, JobStore

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PRIVATE_REDIS_PORT = 6390
REDIS_URL = f"redis://127.0.0.1:{PRIVATE_REDIS_PORT}/0"
MAX_DELIVERIES = 2
HARD_LIMIT_S = 6


def worker_env(broker_url: str, checkpoint: Path, input_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {
        **env,
        # Without cached bytecode every worker start compiles torch's Python modules again
        # (a minute on a busy machine); this cache is the tests' own, outside the install.
        "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) / "formula-ocr-test-pycache"),
        "FORMULA_OCR_BROKER_URL": broker_url,
        "FORMULA_OCR_CHECKPOINT": str(checkpoint),
        "FORMULA_OCR_INPUT_ROOTS": str(input_root),
        "FORMULA_OCR_DPI": "100",
        "FORMULA_OCR_FANOUT_MIN_PAGES": "1",
        "FORMULA_OCR_PAGES_PER_TASK": "1",
        "FORMULA_OCR_MAX_DELIVERIES": str(MAX_DELIVERIES),
        "FORMULA_OCR_SOFT_TIME_LIMIT": str(HARD_LIMIT_S - 1),
        "FORMULA_OCR_TIME_LIMIT": str(HARD_LIMIT_S),
        "FORMULA_OCR_VISIBILITY_TIMEOUT": "20",
        "FORMULA_OCR_TORCH_THREADS": "1",  # the machine is shared; see test_celery.py
    }


@pytest.fixture(scope="module")
def input_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp().resolve()


def start_worker_process(env: dict[str, str], log: Path, name: str) -> subprocess.Popen:
    """``celery -A worker worker`` with one prefork child; returns once it is consuming."""
    command = [sys.executable, "-m", "celery", "-A", "worker", "worker", "-P", "prefork"]
    command += ["-c", "1", "-n", f"{name}@%h", "--loglevel=INFO", "--without-mingle"]
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            [*command, "--without-gossip"],
            cwd=REPO,
            env=env,
            stdout=handle,
            stderr=handle,
            start_new_session=True,
        )
    deadline = time.monotonic() + 180
    while b" ready." not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return process


def stop_worker_process(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGQUIT)  # cold shutdown: nothing left to finish
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: the worker and its child
        process.wait()


def children(process: subprocess.Popen) -> list[int]:
    text = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text()
    return [int(pid) for pid in text.split()]


class Client:
    """Submits jobs the way ``formula-ocr submit`` does: a job record, then the task by name."""

    def __init__(self, url: str):
        self.app = Celery(broker=url, backend=url, set_as_current=False)
        self.store = JobStore.from_url(url)

    def submit(self, path: Path, out_dir: Path) -> str:
        job_id = f"{path.stem}-{time.monotonic_ns()}"
        self.store.create(job_id, source=str(path), out_dir=str(out_dir), name=path.stem)
        self.app.send_task(
            "formula_ocr.convert_document", (str(path), str(out_dir), path.stem), task_id=job_id
        )
        return job_id

    def wait(self, job_id: str, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            record = self.store.get(job_id)
            if record and record["state"] in FINAL_STATES:
                return record
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} did not finish: {self.store.get(job_id)}")


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory) -> Iterator[Callable[[], None]]:
    """A redis-server of our own on port 6390; the fixture's value restarts it (data lost)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    command = ["redis-server", "--port", str(PRIVATE_REDIS_PORT), "--save", "", "--appendonly"]
    command += ["no", "--dir", str(tmp_path_factory.mktemp("redis"))]
    state = {}

    def start() -> None:
        state["process"] = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=PRIVATE_REDIS_PORT)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("private redis-server did not start")

    def restart() -> None:
        state["process"].terminate()
        state["process"].wait(10)
        start()

    start()
    yield restart
    state["process"].terminate()
    state["process"].wait(10)


@pytest.fixture(scope="module")
def worker(
    private_redis, tiny_checkpoint, input_root, tmp_path_factory
) -> Iterator[subprocess.Popen]:
    # The worker's 5 s soft limit is shorter than a first ONNX export on a cold machine (a child
    # that imports torch), which would fail every task of a module run on its own.
    exported_graph(tiny_checkpoint)
    env = worker_env(REDIS_URL, tiny_checkpoint, input_root)
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    process = start_worker_process(env, log, "test")
    yield process
    stop_worker_process(process)


@pytest.fixture(scope="module")
def client(private_redis) -> Client:
    return Client(REDIS_URL)


def make_slow_page(path: Path, index: int) -> Path:
    """Make page ``index`` draw a form that draws a form ... (15**4 strokes in all).

    MuPDF spends minutes in C rendering it, even on an idle machine (15**3 took only a few
    seconds there): the kind of page only a hard time limit can stop, and a stand-in for a
    document that takes its worker down.
    """
    doc = pymupdf.open(path)
    try:
        page = doc[index]
        leaf = doc.get_new_xref()
        form = "<< /Type /XObject /Subtype /Form /BBox [0 0 298 420] /Resources << {} >> >>"
        doc.update_object(leaf, form.format(""))
        doc.update_stream(leaf, b"0.5 w 10 10 m 280 400 l 20 300 l S")
        for _ in range(4):
            parent = doc.get_new_xref()
            doc.update_object(parent, form.format(f"/XObject << /X {leaf} 0 R >>"))
            doc.update_stream(parent, b"q /X Do Q\n" * 15)
            leaf = parent
        contents = doc.get_new_xref()
        doc.update_object(contents, "<< >>")
        doc.update_stream(contents, b"q /X Do Q")
        doc.xref_set_key(page.xref, "Resources", f"<< /XObject << /X {leaf} 0 R >> >>")
        doc.xref_set_key(page.xref, "Contents", f"{contents} 0 R")
        doc.saveIncr()
    finally:
        doc.close()
    return path


def read_result(record: dict) -> dict:
    return json.loads(Path(record["output"]).read_text())


def test_killing_the_worker_child_mid_job_loses_no_page(
    worker, client, make_pdf, formulas, tmp_path
):
    pdf = make_pdf(tmp_path / "long.pdf", [formulas * 2] * 8, page_size=(420, 595))
    out = tmp_path / "out"
    job_id = client.submit(pdf, out)

    # Kill half a page after the second page is stored, i.e. in the middle of the third.
    killed, seen = None, {}
    deadline = time.monotonic() + 60
    while killed is None and time.monotonic() < deadline:
        record = client.store.get(job_id) or {}
        seen.setdefault(record.get("pages_done", 0), time.monotonic())
        if 2 in seen and 1 in seen:
            time.sleep((seen[2] - seen[1]) / 2)
            killed = children(worker)[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.005)
    assert killed is not None and (client.store.get(job_id) or {})["pages_done"] < 8

    record = client.wait(job_id)
    assert record["state"] == "SUCCESS", record
    assert killed not in children(worker)  # a fresh child finished the job
    result = read_result(record)
    assert [page["index"] for page in result["pages"]] == list(range(8))
    assert all(page["error"] is None and page["regions"] for page in result["pages"])
    assert [p.name for p in out.iterdir()] == ["long.json"]  # one JSON, no temp files
    # The page task that was running when its child died was delivered again.
    deliveries = client.store.client.keys("formula_ocr:deliveries:formula_ocr.recognize_pages:*")
    assert max(int(client.store.client.get(key)) for key in deliveries) == 2


def test_page_over_the_hard_time_limit_gets_an_error_and_the_job_finishes(
    worker, client, make_pdf, formulas, tmp_path
):
    pdf = make_slow_page(make_pdf(tmp_path / "slow.pdf", [formulas] * 3), index=1)
    started = time.monotonic()

    record = client.wait(client.submit(pdf, tmp_path / "out"))

    assert time.monotonic() - started < 25  # the render alone would take minutes
    assert record["state"] == "SUCCESS" and record["page_errors"] == 1, record
    pages = read_result(record)["pages"]
    assert "hard time limit of 6 s" in pages[1]["error"]
    assert pages[0]["error"] is None and pages[2]["error"] is None
    assert pages[0]["regions"] and pages[2]["regions"]


def test_poison_document_is_failed_after_n_deliveries_while_others_succeed(
    worker, client, make_pdf, formulas, tmp_path
):
    poison = make_slow_page(make_pdf(tmp_path / "poison.pdf", [formulas]), index=0)
    good = [make_pdf(tmp_path / f"good{i}.pdf", [formulas]) for i in range(2)]
    out = tmp_path / "out"
    poison_id = client.submit(poison, out)
    good_ids = [client.submit(path, out) for path in good]

    # Every time the poison document starts, its worker child dies (as after a segfault/OOM).
    kills = 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        record = client.store.get(poison_id) or {}
        if record.get("state") in FINAL_STATES:
            break
        if record.get("state") == "STARTED" and record.get("deliveries", 0) > kills:
            pid = int(record["worker"].rsplit(":", 1)[1])
            if pid in children(worker):
                os.kill(pid, signal.SIGKILL)
                kills = record["deliveries"]
        time.sleep(0.01)

    record = client.wait(poison_id)
    assert kills == MAX_DELIVERIES
    assert record["state"] == "FAILURE"
    assert f"gave up after {MAX_DELIVERIES} deliveries" in record["error"]
    result = read_result(record)
    assert result["status"] == "failed" and "worker process died" in result["error"]
    for job_id in good_ids:
        good_record = client.wait(job_id)
        assert good_record["state"] == "SUCCESS" and read_result(good_record)["pages"][0]["regions"]
    # The failed document's JSON still names the model, as a finished one does.
    assert result["model"] == read_result(good_record)["model"] and result["model"]["version"]


def test_worker_reconnects_after_redis_restart_and_runs_the_next_job(
    worker, client, private_redis, make_pdf, formulas, tmp_path
):
    first = make_pdf(tmp_path / "first.pdf", [formulas])
    assert client.wait(client.submit(first, tmp_path / "out"))["state"] == "SUCCESS"

    private_redis()  # the worker is idle; Redis goes away and comes back empty
    second = make_pdf(tmp_path / "second.pdf", [formulas])
    fresh = Client(REDIS_URL)  # the test's own connections were cut too
    record = fresh.wait(fresh.submit(second, tmp_path / "out"), timeout=60)

    assert record["state"] == "SUCCESS"
    assert worker.poll() is None

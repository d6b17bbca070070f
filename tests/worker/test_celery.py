"""Celery jobs through the real Redis (DB 5, flushed) and a real worker running in a thread.

The in-thread worker (``celery.contrib.testing``, solo pool) runs the real tasks with real
serialization and acks, not eager mode; tests that need a pool child to die or a hard time limit
are in ``test_celery_processes.py``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis
from celery.contrib.testing.worker import start_worker

from ocr_model import PredictorConfig, load_recognizer
from worker.celery import app, configure
from worker.cli import main
from worker.config import WorkerConfig, celery_settings
from worker.jobs import FINAL_STATES, JobStore
from worker.tasks import job_key

REDIS_URL = "redis://127.0.0.1:6379/5"
TEST_DPI = 100  # as the ``settings`` fixture in conftest.py


@pytest.fixture(scope="module")
def input_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Every tmp_path of the session is under the base temp folder; nothing else is allowed.
    return tmp_path_factory.getbasetemp().resolve()


@pytest.fixture(scope="module")
def worker_config(tiny_checkpoint: Path, input_root: Path) -> WorkerConfig:
    return WorkerConfig(
        broker_url=REDIS_URL,
        concurrency=1,
        checkpoint=tiny_checkpoint,
        dpi=TEST_DPI,
        fanout_min_pages=1,  # 2-page documents fan out, 1-page ones run in the document task
        pages_per_task=1,
        input_roots=(input_root,),
    )


@pytest.fixture(scope="module")
def jobs(worker_config: WorkerConfig):
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    previous = app.conf.formula_ocr
    configure(worker_config)
    with (
        pytest.MonkeyPatch.context() as env,
        start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30),
    ):
        # One torch thread: the worker thread and `convert` share this process, and two
        # spinning OpenMP pools on a busy machine slow a tiny model down a hundredfold.
        env.setenv("FORMULA_OCR_TORCH_THREADS", "1")
        yield JobStore.from_url(REDIS_URL)
    configure(previous)
    client.flushdb()


def wait_final(store: JobStore, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = store.get(job_id)
        if record and record["state"] in FINAL_STATES:
            return record
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} not finished: {store.get(job_id)}")


def submitted_ids(capsys: pytest.CaptureFixture) -> list[str]:
    return [line.split("\t")[0] for line in capsys.readouterr().out.splitlines() if "\t" in line]


def test_celery_and_convert_write_identical_json_for_pdf_and_image_folder(
    jobs, formula_pdf, image_folder, tiny_checkpoint, tmp_path, capsys, without_timings
):
    local, remote = tmp_path / "local", tmp_path / "remote"
    inputs = [str(formula_pdf), str(image_folder)]
    common = ["--checkpoint", str(tiny_checkpoint), "--dpi", str(TEST_DPI), "--no-progress"]
    formats = ["--format", "json,tex"]
    assert main(["convert", *inputs, "--out", str(local), *common, *formats]) == 0

    submit = ["submit", *inputs, "--out", str(remote), *formats, "--wait", "--timeout", "120"]
    assert main(submit) == 0

    names = sorted(p.name for p in local.glob("*.json"))
    assert names == ["a.json", "b.json", "c.json", "worksheet.json"]
    # Same files (no temp files left behind), and the LaTeX exports are identical too.
    assert sorted(p.name for p in remote.iterdir()) == sorted(p.name for p in local.iterdir())
    for tex in local.glob("*.tex"):
        assert (remote / tex.name).read_text() == tex.read_text(), tex.name
    for name in names:
        expected = json.loads((local / name).read_text())
        actual = json.loads((remote / name).read_text())
        assert without_timings(actual) == without_timings(expected), name
    # Both multi-page documents went through page tasks and the assembly step.
    assert json.loads((remote / "c.json").read_text())["pages"][1]["index"] == 1


def test_job_reports_progress_and_appears_in_status_and_jobs(jobs, formula_pdf, tmp_path, capsys):
    assert main(["submit", str(formula_pdf), "--out", str(tmp_path / "out"), "--wait"]) == 0
    (job_id,) = submitted_ids(capsys)

    record = jobs.get(job_id)
    assert record["state"] == "SUCCESS"
    assert (record["pages_done"], record["pages_total"]) == (2, 2)
    assert main(["status", job_id]) == 0
    status = capsys.readouterr().out
    assert job_id in status and "SUCCESS" in status and "2/2 pages" in status
    assert main(["jobs", "--limit", "1"]) == 0
    assert capsys.readouterr().out.startswith(job_id)
    # The Celery result of the job id is the assembly's summary of the job.
    assert app.AsyncResult(job_id).get(timeout=10)["output"] == record["output"]
    assert main(["status", "no-such-job"]) == 1


def test_resubmitting_a_finished_document_does_no_recognition(jobs, make_pdf, tmp_path, capsys):
    pdf = make_pdf(tmp_path / "again.pdf", [["a + b = c"], ["x - 1"]])
    out = tmp_path / "out"
    assert main(["submit", str(pdf), "--out", str(out), "--wait"]) == 0
    first = (out / "again.json").read_text()
    recognized = jobs.pages_recognized()

    assert main(["submit", str(pdf), "--out", str(out), "--wait"]) == 0
    renamed = tmp_path / "copy.pdf"
    renamed.write_bytes(pdf.read_bytes())
    assert main(["submit", str(renamed), "--out", str(out), "--wait"]) == 0

    assert jobs.pages_recognized() == recognized
    assert (out / "again.json").read_text() == first
    again, copy = (jobs.get(job_id) for job_id in submitted_ids(capsys)[1:])
    assert again["cached"] and copy["cached"]
    copied = json.loads((out / "copy.json").read_text())
    assert copied["source"] == str(renamed.resolve())
    assert copied["pages"] == json.loads(first)["pages"]


def test_a_finished_result_is_reused_only_for_the_same_decoder(
    tiny_checkpoint, formula_pdf, settings, detector
):
    def key(decoder: str) -> str:
        config = PredictorConfig(decoder=decoder, num_threads=1)
        return job_key(
            formula_pdf, load_recognizer(tiny_checkpoint, config).info, settings, detector
        )

    assert key("beam") == key("beam")
    assert key("beam") != key("greedy")  # greedy and beam read some formulas differently


def test_path_outside_input_roots_and_dotdot_names_are_refused(jobs, tmp_path, capsys, monkeypatch):
    outside = Path("/etc/hostname")
    assert main(["submit", str(outside), "--out", str(tmp_path / "out")]) == 1
    assert "outside the input roots" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert main(["submit", "../../x.pdf", "--out", str(tmp_path / "out")]) == 1
    assert "'..' is not allowed" in capsys.readouterr().err

    # A client that skips the CLI's check is refused by the worker, which reads nothing.
    job_id = "refused-by-worker"
    jobs.create(job_id, source=str(outside))
    app.send_task(
        "formula_ocr.convert_document", (str(outside), str(tmp_path / "out"), "x"), task_id=job_id
    )
    record = wait_final(jobs, job_id)
    assert record["state"] == "FAILURE"
    assert "outside the input roots" in record["error"]
    assert not (tmp_path / "out").exists()


def test_configuration_comes_from_the_environment_with_safe_celery_settings(tmp_path):
    env = {
        "FORMULA_OCR_BROKER_URL": "rediss://:secret@redis.example:6380/0?ssl_cert_reqs=required",
        "FORMULA_OCR_TIME_LIMIT": "120",
        "FORMULA_OCR_INPUT_ROOTS": f"{tmp_path}:/srv/scans",
        "FORMULA_OCR_USE_TEXT_LAYER": "false",
        "FORMULA_OCR_MAX_PAGES": "50",
    }
    config = WorkerConfig.from_env(env)
    settings = celery_settings(config)

    assert config.backend_url == env["FORMULA_OCR_BROKER_URL"]  # results go to the same Redis
    assert config.input_roots == (tmp_path.resolve(), Path("/srv/scans"))
    assert config.pipeline_settings().limits.max_pages == 50
    assert config.pipeline_settings().use_text_layer is False
    assert settings["accept_content"] == ["json"] and settings["task_serializer"] == "json"
    assert settings["task_acks_late"] and settings["task_reject_on_worker_lost"]
    assert settings["worker_prefetch_multiplier"] == 1
    for options in ("broker_transport_options", "result_backend_transport_options"):
        assert settings[options]["visibility_timeout"] > 2 * config.time_limit
    # A TLS URL with a password is all it takes: the job store parses it without connecting.
    assert (
        JobStore.from_url(config.backend_url).client.connection_pool.connection_kwargs["password"]
        == "secret"
    )

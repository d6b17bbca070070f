"""Pipeline throughput: in-process ``convert`` against Celery workers with 1 and 2 processes.

One run generates a batch of scan-like PDFs (pages are images: formulas drawn with OpenCV on
noisy paper, no text layer, so every page goes through rasterization, the image detector and the
recognizer) and pushes the same batch through
(a) ``process_document`` + ``save_outputs`` in this process, what ``formula-ocr convert`` runs;
(b) a real ``celery -A worker worker -c 1``; (c) the same with ``-c 2``,
each worker on a private ``redis-server`` (started here, port ``--redis-port``) and timed from the
first submission to the last JSON, after a warm-up job per child has loaded the model. The 1-process
worker then keeps going on fresh documents ("soak") to compare its child's RSS after
``--soak-pages`` pages with the RSS after a tenth of them. Torch threads per process follow the
workers' rule (cores / processes) unless ``--threads`` says otherwise.

Reproduce the numbers in benchmarks/README.md:
    nice -n 10 python benchmarks/pipeline_throughput.py --quick
    nice -n 10 python benchmarks/pipeline_throughput.py   # full: 500-page soak
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pymupdf
import redis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from worker.jobs import FINAL_STATES, JobStore  # noqa: E402

FORMULAS = [
    "x^2 + y^2 = z^2", "a/b - 3 = c", "f(x) = 2x + 1", "e^(i pi) + 1 = 0", "sqrt(a + b) < 7",
    "y = m x + b", "(n + 1)! = n! (n + 1)", "sin^2 t + cos^2 t = 1", "d/dx x^3 = 3x^2",
    "p(A|B) = p(B|A) p(A) / p(B)", "3 x - 4 = 11", "lim 1/n = 0",
]  # fmt: skip
PAGE_SIZE = (1654, 2339)  # A4 at 200 dpi, width x height in pixels


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--documents", type=int, default=4, help="PDFs in the timed batch")
    parser.add_argument("--pages", type=int, default=10, help="pages per PDF")
    parser.add_argument("--formulas", type=int, default=10, help="formulas per page")
    parser.add_argument(
        "--soak-pages", type=int, default=500, help="pages of the 1-process RSS growth check"
    )
    parser.add_argument(
        "--quick", action="store_true", help="100-page soak (RSS after 100 vs after 10 pages)"
    )
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="default: model_data/recognizer.pt"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads per process (cores / processes)"
    )
    parser.add_argument(
        "--crossover",
        action="store_true",
        help="instead: seconds for one 1/2/4-page document alone on 2 processes, with and "
        "without splitting it into page tasks (where FORMULA_OCR_FANOUT_MIN_PAGES pays off)",
    )
    parser.add_argument("--redis-port", type=int, default=6391)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    return parser.parse_args(argv)


def draw_page(rng: np.random.Generator, formulas: int) -> np.ndarray:
    """An A4 scan at 200 dpi: formulas at random indents on paper with noise and a slight tilt."""
    width, height = PAGE_SIZE
    page = np.full((height, width), 255, np.uint8)
    step = (height - 300) // formulas
    for line in range(formulas):
        text = FORMULAS[rng.integers(len(FORMULAS))]
        origin = (int(rng.integers(120, 500)), 200 + line * step)
        cv2.putText(page, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 1.6, 20, 3, cv2.LINE_AA)
    noise = rng.normal(0, 8, page.shape)
    page = np.clip(page.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    tilt = cv2.getRotationMatrix2D((width / 2, height / 2), float(rng.uniform(-0.8, 0.8)), 1.0)
    return cv2.warpAffine(page, tilt, (width, height), borderValue=255)


def write_scan_pdf(path: Path, rng: np.random.Generator, pages: int, formulas: int) -> Path:
    doc = pymupdf.open()
    try:
        for _ in range(pages):
            ok, png = cv2.imencode(".png", draw_page(rng, formulas))
            assert ok
            page = doc.new_page(width=595, height=842)  # A4 in points
            page.insert_image(page.rect, stream=png.tobytes())
        doc.save(path)
    finally:
        doc.close()
    return path


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_inprocess(documents: list[Path], out: Path, checkpoint: Path | None) -> dict:
    from ocr_model import load_recognizer
    from segmentation import FormulaDetector
    from worker.pipeline import PipelineSettings, output_name, process_document, save_outputs

    recognizer, detector = load_recognizer(checkpoint), FormulaDetector()
    settings = PipelineSettings()
    process_document(documents[0], settings, recognizer, detector)  # warm-up, not timed
    start = time.perf_counter()
    pages = formulas = 0
    for path in documents:
        result = process_document(path, settings, recognizer, detector)
        save_outputs(result, out, output_name(path))
        pages += len(result.pages)
        formulas += sum(len(page.regions) for page in result.pages)
    return {"seconds": time.perf_counter() - start, "pages": pages, "formulas": formulas}


class Worker:
    """A ``celery -A worker worker -c N`` process on the benchmark's Redis."""

    def __init__(self, url: str, concurrency: int, env: dict[str, str], log: Path):
        command = [sys.executable, "-m", "celery", "-A", "worker", "worker", "-P", "prefork"]
        command += ["-c", str(concurrency), "--loglevel=WARNING", "--without-mingle"]
        env = {**env, "FORMULA_OCR_BROKER_URL": url, "FORMULA_OCR_CONCURRENCY": str(concurrency)}
        self.log = log
        with open(log, "wb") as handle:
            self.process = subprocess.Popen(
                [*command, "--without-gossip", "-n", f"bench{concurrency}@%h"],
                cwd=REPO,
                env=env,
                stdout=handle,
                stderr=handle,
                start_new_session=True,
            )

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def memory_mb(self, field: str) -> list[float]:
        """``VmRSS`` (now) or ``VmHWM`` (peak) of each child, in MB."""
        sizes = []
        for pid in self.children():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(f"{field}:"):
                    sizes.append(int(line.split()[1]) / 1024)
        return sizes

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()


def submit(app, store: JobStore, path: Path, out: Path) -> str:
    job_id = f"{path.stem}-{time.monotonic_ns()}"
    store.create(job_id, source=str(path), out_dir=str(out), name=path.stem)
    app.send_task("formula_ocr.convert_document", (str(path), str(out), path.stem), task_id=job_id)
    return job_id


def wait_all(store: JobStore, job_ids: list[str], timeout: float = 3600) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = [store.get(job_id) or {} for job_id in job_ids]
        if all(record.get("state") in FINAL_STATES for record in records):
            return records
        time.sleep(0.1)
    raise TimeoutError(f"jobs not finished after {timeout} s")


def count_formulas(records: list[dict]) -> tuple[int, int]:
    pages = formulas = 0
    for record in records:
        result = json.loads(Path(record["output"]).read_text())
        pages += len(result["pages"])
        formulas += sum(len(page["regions"]) for page in result["pages"])
    return pages, formulas


def run_celery(
    concurrency: int, documents: list[Path], work: Path, args: argparse.Namespace, env: dict
) -> dict:
    from celery import Celery

    url = f"redis://127.0.0.1:{args.redis_port}/0"
    redis.Redis.from_url(url).flushdb()  # no job keys left: every page is recognized again
    app = Celery(broker=url, backend=url, set_as_current=False)
    store = JobStore.from_url(url)
    out = work / f"celery{concurrency}"
    worker = Worker(url, concurrency, env, work / f"worker{concurrency}.log")
    try:
        # One single-page job per child loads the model in every child before timing starts.
        warm = [write_scan_pdf(work / f"warm{concurrency}-{i}.pdf", args.rng, 1, 1)
                for i in range(concurrency)]  # fmt: skip
        wait_all(store, [submit(app, store, path, work / "warm") for path in warm], 600)
        start = time.perf_counter()
        records = wait_all(store, [submit(app, store, path, out) for path in documents])
        seconds = time.perf_counter() - start
        pages, formulas = count_formulas(records)
        result = {"seconds": seconds, "pages": pages, "formulas": formulas}
        result["peak_rss_mb"] = max(worker.memory_mb("VmHWM"))
        if concurrency == 1:
            result.update(soak(app, store, worker, work, args))
        return result
    finally:
        worker.stop()


def soak(app, store: JobStore, worker: Worker, work: Path, args: argparse.Namespace) -> dict:
    """RSS of the single child after a tenth of ``soak_pages`` pages and after all of them."""
    total = 100 if args.quick else args.soak_pages
    pages_per_doc = args.pages
    rss_at: dict[str, float] = {}
    done = 0
    while done < total:
        path = write_scan_pdf(work / f"soak-{done}.pdf", args.rng, pages_per_doc, args.formulas)
        wait_all(store, [submit(app, store, path, work / "soak")])
        done += pages_per_doc
        log(f"soak: {done} pages, RSS {worker.memory_mb('VmRSS')} MB")
        if "early" not in rss_at and done >= total // 10:
            rss_at["early"] = worker.memory_mb("VmRSS")[0]
    rss_at["late"] = worker.memory_mb("VmRSS")[0]
    return {
        "soak_pages": done,
        "rss_early_mb": rss_at["early"],
        "rss_late_mb": rss_at["late"],
        "rss_growth_pct": 100.0 * (rss_at["late"] - rss_at["early"]) / rss_at["early"],
    }


def run_crossover(work: Path, args: argparse.Namespace, env: dict) -> dict:
    """Latency of one document on an idle 2-process worker, split into 1-page tasks or whole."""
    from celery import Celery

    url = f"redis://127.0.0.1:{args.redis_port}/0"
    app = Celery(broker=url, backend=url, set_as_current=False)
    store = JobStore.from_url(url)
    results = {}
    for mode, fanout_min_pages in (("split", "0"), ("whole", "1000000")):
        redis.Redis.from_url(url).flushdb()
        mode_env = {**env, "FORMULA_OCR_FANOUT_MIN_PAGES": fanout_min_pages}
        mode_env["FORMULA_OCR_PAGES_PER_TASK"] = "1"
        worker = Worker(url, 2, mode_env, work / f"worker-{mode}.log")
        try:
            warm = [write_scan_pdf(work / f"warm-{mode}{i}.pdf", args.rng, 1, 1) for i in (0, 1)]
            wait_all(store, [submit(app, store, path, work / "warm") for path in warm], 600)
            for pages in (1, 2, 4):
                path = write_scan_pdf(work / f"{mode}{pages}.pdf", args.rng, pages, args.formulas)
                start = time.perf_counter()
                wait_all(store, [submit(app, store, path, work / mode)])
                results[f"{mode}_{pages}p_s"] = round(time.perf_counter() - start, 2)
                log(f"{mode}, {pages} pages: {results[f'{mode}_{pages}p_s']} s")
        finally:
            worker.stop()
    return results


def main(args: argparse.Namespace) -> dict:
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is needed (the benchmark starts its own)")
    # SIGTERM (e.g. from `timeout`) unwinds through the finally blocks that stop the workers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    args.rng = np.random.default_rng(0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORMULA_OCR_")}
    if args.checkpoint is not None:
        env["FORMULA_OCR_CHECKPOINT"] = str(args.checkpoint.resolve())
    if args.threads is not None:
        env["FORMULA_OCR_TORCH_THREADS"] = str(args.threads)
        os.environ["FORMULA_OCR_TORCH_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory(prefix="pipeline-throughput-") as tmp:
        work = Path(tmp)
        documents = [
            write_scan_pdf(work / f"doc{i}.pdf", args.rng, args.pages, args.formulas)
            for i in range(0 if args.crossover else args.documents)
        ]
        server = subprocess.Popen(
            ["redis-server", "--port", str(args.redis_port), "--save", "", "--appendonly", "no",
             "--maxmemory-policy", "noeviction", "--dir", tmp],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(0.5)
            if server.poll() is not None:
                raise SystemExit(f"redis-server could not start on port {args.redis_port}")
            if args.crossover:
                return run_crossover(work, args, env)
            log(f"in-process: {len(documents)} documents")
            inprocess = run_inprocess(documents, work / "inprocess", args.checkpoint)
            log(f"celery, 1 process: {inprocess}")
            one = run_celery(1, documents, work, args, env)
            log(f"celery, 2 processes: {one}")
            two = run_celery(2, documents, work, args, env)
            log(f"done: {two}")
        finally:
            server.terminate()
            server.wait()

    def per_min(run: dict) -> float:
        return round(60.0 * run["pages"] / run["seconds"], 1)

    def per_s(run: dict) -> float:
        return round(run["formulas"] / run["seconds"], 2)

    return {
        "pages": inprocess["pages"],
        "formulas": inprocess["formulas"],
        "cores": os.cpu_count(),
        "pages_per_min_inprocess": per_min(inprocess),
        "pages_per_min_1proc": per_min(one),
        "pages_per_min_2proc": per_min(two),
        "scaleout_2v1": round(two["pages"] / two["seconds"] / (one["pages"] / one["seconds"]), 2),
        "formulas_per_s_inprocess": per_s(inprocess),
        "formulas_per_s_1proc": per_s(one),
        "formulas_per_s_2proc": per_s(two),
        "peak_rss_mb": round(max(one["peak_rss_mb"], two["peak_rss_mb"]), 1),
        "soak_pages": one["soak_pages"],
        "rss_early_mb": round(one["rss_early_mb"], 1),
        "rss_late_mb": round(one["rss_late_mb"], 1),
        "rss_growth_pct": round(one["rss_growth_pct"], 1),
    }


if __name__ == "__main__":
    arguments = parse_args()
    report = main(arguments)
    text = json.dumps(report, indent=2)
    print(text)
    if arguments.out is not None:
        arguments.out.parent.mkdir(parents=True, exist_ok=True)
        arguments.out.write_text(text + "\n")

"""Many covers from one CSV file, on every CPU core: the engine of ``loa render covers``.

All rows are checked first (in parallel, drawing nothing); one bad row stops the batch
before any file is written, and the error names the row. Then the covers are drawn and
written as ``DIR/0001.jpg``, ``DIR/0002.jpg``… (row order), each file replaced atomically.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scheduler.errors import InputError, LoaError
from scheduler.i18n import N_, Number, msg
from scheduler.render.covers import CoverRenderer, max_bytes_for
from scheduler.render.images import normalise_format
from scheduler.render.messages import nfc

MAX_ROWS = 10_000
# Below this many rows, starting worker processes costs more than it saves.
_INLINE_BELOW = 4

Progress = Callable[[str, int, int], None]
# (row index, error message or None, its hint): plain data, cheap to send between processes.
Outcome = tuple[int, str | None, str | None]


@dataclass(frozen=True)
class BatchJob:
    templates_dir: Path
    assets_dir: Path
    layout: str
    target: str
    fmt: str
    campaign: Mapping[str, str]


_FIELD = Number(131_072, 0)  # the csv module's bound on one field


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a UTF-8 CSV file (Excel's BOM allowed) as variable → value, NFC."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(msg("error.csv_missing", path=str(path)), field="csv") from None
    except UnicodeDecodeError:
        refused = msg("error.csv_not_utf8", file=path.name)
        raise InputError(refused, hint=msg("hint.excel_csv_utf8"), field="csv") from None
    reader = csv.DictReader(text.splitlines())
    header = [name.strip() for name in reader.fieldnames or []]
    if not header or not all(header):
        raise InputError(msg("error.csv_no_header", file=path.name), hint=msg("hint.csv_header_example"), field="csv")
    rows: list[dict[str, str]] = []
    try:
        for number, row in enumerate(reader, start=1):
            if None in row:
                refused = msg("error.csv_extra_cells", file=path.name, row=number)
                raise InputError(refused, hint=msg("hint.quote_commas"))
            rows.append({key.strip(): nfc(value or "") for key, value in row.items()})
            if len(rows) > MAX_ROWS:
                too_many = msg("error.csv_too_many_rows", file=path.name, limit=MAX_ROWS)
                raise InputError(too_many, hint=msg("hint.split_file"))
    except csv.Error:
        # Past the csv module's own bound on one field (131.072 characters): no cover's text.
        too_long = msg("error.csv_field_too_long", file=path.name, row=reader.reader.line_num, chars=_FIELD)
        raise InputError(too_long, hint=msg("hint.import_shorten_cell"), field="csv") from None
    # Spreadsheets often save empty rows after the data; a blank row inside it stays, and fails.
    while rows and not any(value.strip() for value in rows[-1].values()):
        rows.pop()
    if not rows:
        raise InputError(msg("error.csv_no_rows", file=path.name), field="csv")
    return rows


def output_names(count: int, fmt: str) -> list[str]:
    suffix = "png" if normalise_format(fmt) == "png" else "jpg"
    digits = max(4, len(str(count)))
    return [f"{n:0{digits}d}.{suffix}" for n in range(1, count + 1)]


def render_batch(
    job: BatchJob,
    rows: Sequence[Mapping[str, str]],
    out_dir: Path,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    source: str = "CSV",
) -> list[Path]:
    """Check every row, then write one cover per row; returns the files in row order.

    ``source`` names the rows' file in error messages ("rows.csv, row 3: …").
    """
    names = output_names(len(rows), job.fmt)
    workers = max(1, min(workers or os.cpu_count() or 1, len(rows)))
    with _executor(job, workers if len(rows) >= _INLINE_BELOW else 1) as pool:
        checked = _run(pool, _check_row, [(i, dict(row)) for i, row in enumerate(rows)], "check", progress)
        _raise_first(checked, source, N_("batch.nothing_written"))
        out_dir.mkdir(parents=True, exist_ok=True)
        tasks = [(i, dict(row), str(out_dir / names[i])) for i, row in enumerate(rows)]
        _raise_first(_run(pool, _render_row, tasks, "render", progress), source, N_("batch.others_written"))
    return [out_dir / name for name in names]


def _raise_first(outcomes: list[Outcome], source: str, consequence: str) -> None:
    failures = sorted((o for o in outcomes if o[1] is not None), key=lambda o: o[0])
    if not failures:
        return
    # The row's own message and hint were worded in the worker (same process language).
    index, message, hint = failures[0]
    problem = msg("batch.row", source=source, row=index + 1, problem=message)
    if len(failures) > 1:
        problem = msg("batch.row_and_more", first=problem, more=len(failures) - 1)
    fix = msg("hint.fix_row", consequence=msg(consequence))
    raise InputError(problem, hint=msg("hint.row_hint_and_fix", hint=hint, fix=fix) if hint else fix)


def _run(
    pool: Executor,
    function: Callable[..., Outcome],
    tasks: Sequence[tuple[object, ...]],
    phase: str,
    progress: Progress | None,
) -> list[Outcome]:
    results: list[Outcome] = []
    futures: list[Future[Outcome]] = [pool.submit(function, *task) for task in tasks]
    for done, future in enumerate(as_completed(futures), start=1):
        results.append(future.result())
        if progress is not None:
            progress(phase, done, len(tasks))
    return results


# -- worker side: one renderer per process, so fonts and backgrounds load once per core ----

_worker: tuple[CoverRenderer, BatchJob] | None = None


def _init_worker(job: BatchJob) -> None:
    global _worker
    _worker = (CoverRenderer(job.templates_dir, job.assets_dir), job)


def _check_row(index: int, row: dict[str, str]) -> Outcome:
    renderer, job = _current()
    try:
        renderer.check(job.layout, row, targets=[job.target], campaign=job.campaign)
    except LoaError as exc:
        return index, exc.message, exc.hint
    return index, None, None


def _render_row(index: int, row: dict[str, str], destination: str) -> Outcome:
    renderer, job = _current()
    try:
        data = renderer.render(
            job.layout,
            row,
            target=job.target,
            campaign=job.campaign,
            fmt=job.fmt,
            max_bytes=max_bytes_for(job.target, job.fmt),
        )
    except LoaError as exc:
        return index, exc.message, exc.hint
    path = Path(destination)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)  # a reader never sees half a file
    return index, None, None


def _current() -> tuple[CoverRenderer, BatchJob]:
    if _worker is None:
        raise RuntimeError("batch worker used before _init_worker")
    return _worker


class _InlineExecutor(Executor):
    """Runs tasks at once in this process: same code path as the pool, no start-up cost."""

    def submit(self, fn: Callable[..., object], /, *args: object, **kwargs: object) -> Future[object]:  # type: ignore[override]
        future: Future[object] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered through the future, as a pool would
            future.set_exception(exc)
        return future


@contextmanager
def _executor(job: BatchJob, workers: int) -> Iterator[Executor]:
    global _worker
    if workers == 1:
        previous = _worker
        _init_worker(job)
        try:
            yield _InlineExecutor()
        finally:
            _worker = previous
        return
    # spawn, not fork: the parent may hold threads (Rich's progress refresher, the web
    # server) and forking a threaded process can deadlock; spawn also behaves as on Windows.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(job,))
    with pool:
        yield pool

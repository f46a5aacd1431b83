"""Grading answers in worker processes that the parent can kill: no input hangs or crashes a run.

Math-Verify and sympy can run for ever (``9^{9^{9^{9}}}``), eat memory, or die on deep
recursion, and Math-Verify's own timeouts use ``signal.alarm`` which only works in a main
thread. So every pair is graded in a worker process (``spawn`` context: the parent may hold
torch threads, after which ``fork`` is unsafe). Each worker has its own pipe; the parent
waits on all pipes and process sentinels at once and keeps a deadline for the pair each
worker is on. A worker past its deadline is killed and replaced and its pair gets a
``timeout`` verdict; a worker that dies gets an ``error`` verdict for its pair; pairs queued
behind it go to another worker. Inside a worker a soft timer stops interruptible work a
little earlier, so a slow pair does not cost a respawn. A short pair is queued to a worker
before it finishes the previous one, so a busy machine's scheduling delays in the parent
do not leave workers idle; when nothing is left to hand out, an idle worker takes a copy
of a pair still queued behind a slow one (the first verdict counts).

With several graders (``graders=("math-verify", "sympy")``) each pair is graded by all of
them; the first grader's verdict is returned and pairs on which they disagree are appended
to an audit JSONL file. In lenient mode (``mode="lenient"``) the rules of
:mod:`mathverify.grading.lenient` run after each grader, in the same worker and under the
same timeout, and pairs whose verdict a rule decided go to the audit file too.

A grader that raises gives its pair an ``error`` verdict with the exception's text
(``Verdict.error``); so does a lenient rule that raises (a bug: rules catch only their
parsers' "cannot read this"), and its verdict names the rule (``Verdict.rule``), so the
pair goes to the audit file and ``eval`` counts it under ``ungraded``, never as a silent
"not equal".
"""

from __future__ import annotations

import atexit
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from types import FrameType
from typing import Any

from mathverify.errors import MathverifyError
from mathverify.grading.graders import GRADERS, MATH_VERIFY, STRICT, check_mode, run_grader
from mathverify.grading.lenient import RULE_NAMES, RULES
from mathverify.grading.rule_tools import RuleError
from mathverify.grading.verdict import (
    EMPTY_PREDICTION,
    ERROR,
    NO_GOLD,
    TIMEOUT,
    Verdict,
)

__all__ = ["GradingPool", "grade"]

# The parent gives a worker this much longer than the timeout before killing it, so the
# worker's own soft timer (which keeps the process alive) normally fires first.
_KILL_GRACE_S = 0.5
_START_TIMEOUT_S = 120.0
_MAX_START_FAILURES = 3
_ERROR_TEXT_LIMIT = 500
# Pairs sent to a worker ahead of time (beyond the one it is on). Only short pairs are
# queued, so a queued message always fits in the pipe's buffer and a send never blocks.
_QUEUE_AHEAD = 2
_QUEUE_AHEAD_MAX_CHARS = 500


# One pair per common answer shape (numbers, radicals, trig, tuples, intervals, sets,
# matrices, equations, text), so each worker loads the code paths they need up front.
WARM_UP_PAIRS = (
    ("\\frac{1}{2}", "0.5"),
    ("x=(1,2)", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ("\\sqrt{2}x+\\sin x", "2\\sqrt{3}\\cos^2 x"),
    ("[1,2)\\cup(3,\\infty)", "(-\\infty, 4]"),
    ("1,-2", "\\{1, -2\\}"),
    ("\\begin{pmatrix} 1 \\\\ -2 \\end{pmatrix}", "\\begin{pmatrix} 1 & 0 \\end{pmatrix}"),
    ("y=2x+3", "x^2+y^2=1"),
    ("\\text{(C)}", "10\\%"),
    ("90^\\circ", "\\$1,000"),
)


class _SoftTimeout(BaseException):
    """Raised by the worker's timer; a BaseException so that graders' ``except Exception`` let it pass."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _SoftTimeout


def _limit_memory(memory_limit_mb: int | None) -> None:
    if memory_limit_mb is None:
        return
    import resource

    limit = memory_limit_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _worker_main(
    conn: Connection,
    graders: tuple[str, ...],
    memory_limit_mb: int | None,
    mode: str = STRICT,
    rules: tuple[str, ...] = (),
) -> None:
    """Worker loop: receive ``(task_id, grader, pred, gold, soft_timeout)``, send back a result."""
    # stdout may carry the parent's JSONL records: nothing a library prints may land there.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # The parent handles Ctrl-C and kills us; a KeyboardInterrupt here would only add noise.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, _on_alarm)
    for name in ("math_verify", "latex2sympy2_extended"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    _limit_memory(memory_limit_mb)
    # Import and warm up (parsers built, lazy sympy modules loaded) before saying ready, so
    # the first pair's deadline is not spent on start-up; a grader that fails here is broken.
    for name in graders:
        for pred, gold in WARM_UP_PAIRS:
            run_grader(name, pred, gold, mode, rules)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        task_id, grader, pred, gold, soft_timeout = message
        start = time.perf_counter()
        try:
            if soft_timeout is not None:
                signal.setitimer(signal.ITIMER_REAL, soft_timeout)
            try:
                equal, reason, error, rule = grade_in_worker(grader, pred, gold, mode, rules)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _SoftTimeout:
            equal, reason, error, rule = False, TIMEOUT, None, None
        seconds = time.perf_counter() - start
        try:
            conn.send(("result", task_id, bool(equal), reason, error, seconds, rule))
        except (BrokenPipeError, OSError):
            return


def grade_in_worker(
    grader: str, pred: str, gold: str, mode: str = STRICT, rules: tuple[str, ...] = ()
) -> tuple[bool, str, str | None, str | None]:
    """``(equal, reason, error, rule)`` of one pair, as a worker sends it back; never raises an ``Exception``.

    Any failure of a grader is a verdict, not a crash: reason ``"error"`` with the
    exception's text. A lenient rule that raises (a bug, issue #34) gives the same verdict
    with the rule's name in ``rule``, so it is counted as ungraded and audited, not read as
    "not equal". A timeout (``_SoftTimeout``, a ``BaseException``) passes through.
    """
    try:
        equal, reason, rule = run_grader(grader, pred, gold, mode, rules)
    except RuleError as exc:
        return False, ERROR, str(exc)[:_ERROR_TEXT_LIMIT], exc.rule
    except Exception as exc:
        return False, ERROR, f"{type(exc).__name__}: {exc}"[:_ERROR_TEXT_LIMIT], None
    return equal, reason, None, rule


@dataclass
class _Task:
    key: tuple[str, str, str]  # (pred, gold, grader)
    timeout: float
    task_id: int = 0
    stolen: bool = False  # an idle worker was sent a copy; whichever verdict comes first counts

    @property
    def short(self) -> bool:
        return len(self.key[0]) + len(self.key[1]) <= _QUEUE_AHEAD_MAX_CHARS


class _Worker:
    """One worker process, its pipe, and the tasks sent to it (the first is the one it is on)."""

    def __init__(
        self,
        context: Any,
        graders: tuple[str, ...],
        memory_limit_mb: int | None,
        mode: str = STRICT,
        rules: tuple[str, ...] = (),
    ):
        self.conn, child_conn = context.Pipe(duplex=True)
        self.process = context.Process(
            target=_worker_main,
            args=(child_conn, graders, memory_limit_mb, mode, rules),
            name="mathverify-grader",
            daemon=True,
        )
        self.process.start()
        child_conn.close()
        self.started_at = time.monotonic()
        self.ready = False
        self.tasks: deque[_Task] = deque()
        self.head_started_at = 0.0  # when the worker began tasks[0], as the parent sees it

    @property
    def deadline(self) -> float:
        return self.head_started_at + self.tasks[0].timeout + _KILL_GRACE_S

    def can_take(self, task: _Task) -> bool:
        if not self.ready or len(self.tasks) > _QUEUE_AHEAD:
            return False
        return not self.tasks or (task.short and all(t.short for t in self.tasks))

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()

    def stop(self) -> None:
        """Ask the worker to exit; kill it if it does not within a second."""
        try:
            if not self.tasks:
                self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass  # already gone; the join below reaps it
        self.process.join(timeout=1)
        self.kill()


class GradingPool:
    """Worker processes that grade (pred, gold) pairs with per-pair timeouts enforced by the parent.

    Use as a context manager::

        with GradingPool(workers=2, timeout=5.0) as pool:
            verdicts = pool.grade_many([("\\\\frac{1}{2}", "0.5"), ("x=5", "5")])

    ``graders`` names the graders (see :func:`~mathverify.grading.graders.parse_graders`); the
    first one's verdict is returned. With more than one, each pair on which they disagree
    about ``equal`` is appended to ``audit_path`` (JSONL). Verdicts are cached per
    (pred, gold, grader) for the pool's life, timeouts and errors included.
    ``memory_limit_mb`` caps each worker's address space (None: no cap). With
    ``soft_timeout=False`` workers set no timer of their own and every slow pair costs a
    kill and a respawn (for graders that must never be interrupted half-way).

    ``mode="lenient"`` lets the named ``rules`` (default: all of
    :data:`~mathverify.grading.lenient.RULE_NAMES`) change each grader's verdict; a verdict
    a rule decided carries its name (``Verdict.rule``) and is appended to ``audit_path``.
    """

    def __init__(
        self,
        workers: int = 2,
        timeout: float = 5.0,
        graders: Sequence[str] = (MATH_VERIFY,),
        audit_path: str | Path | None = None,
        memory_limit_mb: int | None = 4096,
        soft_timeout: bool = True,
        mode: str = STRICT,
        rules: Sequence[str] | None = None,
    ):
        if workers < 1:
            raise MathverifyError(f"grading pool: workers must be >= 1, got {workers}")
        if not timeout > 0:
            raise MathverifyError(f"grading pool: timeout must be > 0 seconds, got {timeout}")
        graders = tuple(graders)
        if not graders:
            raise MathverifyError("grading pool: at least one grader is needed")
        for name in graders:
            if name not in GRADERS:
                raise MathverifyError(
                    f"grading pool: unknown grader {name!r}; choose from {', '.join(GRADERS)}"
                )
        try:
            check_mode(mode)
        except MathverifyError as exc:
            raise MathverifyError(f"grading pool: {exc}") from None
        rules = RULE_NAMES if rules is None else tuple(rules)
        for name in rules:
            if name not in RULES:
                raise MathverifyError(
                    f"grading pool: unknown rule {name!r}; choose from {', '.join(RULE_NAMES)}"
                )
        self.mode = mode
        self.rules = rules if mode != STRICT else ()
        self.n_workers = workers
        self.timeout = float(timeout)
        self.graders = graders
        self.audit_path = Path(audit_path) if audit_path is not None else None
        self.memory_limit_mb = memory_limit_mb
        self.soft_timeout = soft_timeout
        self.n_restarts = 0
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._cache: dict[tuple[str, str, str], Verdict] = {}
        self._start_failures = 0
        self._next_task_id = 0

    # -- life cycle -------------------------------------------------------------------

    def __enter__(self) -> GradingPool:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the workers and wait until each has imported its graders."""
        while len(self._workers) < self.n_workers:
            self._workers.append(self._spawn())
        while not all(worker.ready for worker in self._workers):
            self._poll(deque(), self._next_wait_timeout())

    def close(self) -> None:
        """Stop all workers. The pool can be started again; the cache is kept."""
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.stop()

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for monitoring, and for tests that kill one)."""
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    # -- grading ----------------------------------------------------------------------

    def grade_many(self, pairs: Iterable[tuple[str | None, str | None]]) -> list[Verdict]:
        """Grade each (pred, gold) pair; one verdict per pair, in order, never raising for an input."""
        # A number where a string belongs (an int answer read from JSON) is graded as its text.
        pairs = [(_as_text(pred), _as_text(gold)) for pred, gold in pairs]
        todo: dict[tuple[str, str, str], None] = {}
        for pred, gold in pairs:
            if _trivial(pred, gold) is not None:
                continue
            for name in self.graders:
                key = (pred, gold, name)
                if key not in self._cache:
                    todo[key] = None
        if todo:
            self._run([_Task(key, self.timeout) for key in todo])
            self._audit({(key[0], key[1]) for key in todo})
        verdicts: list[Verdict] = []
        for pred, gold in pairs:
            trivial = _trivial(pred, gold)
            if trivial is not None:
                verdicts.append(Verdict(False, trivial, 0.0, None, self.graders[0]))
            else:
                verdicts.append(self._cache[(pred, gold, self.graders[0])])
        return verdicts

    def grade(self, pred: str | None, gold: str | None) -> Verdict:
        """Grade one pair (see :meth:`grade_many`)."""
        return self.grade_many([(pred, gold)])[0]

    def verdicts_of(self, pred: str, gold: str) -> dict[str, Verdict]:
        """Every grader's cached verdict for a pair already graded (empty if none)."""
        return {
            name: self._cache[(pred, gold, name)]
            for name in self.graders
            if (pred, gold, name) in self._cache
        }

    # -- internals --------------------------------------------------------------------

    def _spawn(self) -> _Worker:
        return _Worker(self._context, self.graders, self.memory_limit_mb, self.mode, self.rules)

    def _requeue_and_replace(self, worker: _Worker, pending: deque[_Task]) -> None:
        """Put the pairs queued behind a lost worker's current pair back in line; respawn it."""
        # A stolen pair's copy is on another worker already.
        requeue = [t for t in worker.tasks if not t.stolen and t.key not in self._cache]
        pending.extendleft(reversed(requeue))
        worker.tasks.clear()
        worker.kill()
        self._workers[self._workers.index(worker)] = self._spawn()
        self.n_restarts += 1

    def _run(self, tasks: list[_Task]) -> None:
        """Grade all tasks into the cache, keeping every ready worker busy."""
        if len(self._workers) < self.n_workers:
            self.start()
        pending = deque(tasks)
        while pending or self._unfinished():
            self._dispatch(pending)
            self._poll(pending, self._next_wait_timeout())
            self._enforce_deadlines(pending)

    def _unfinished(self) -> bool:
        return any(t.key not in self._cache for w in self._workers for t in w.tasks)

    def _dispatch(self, pending: deque[_Task]) -> None:
        # Fill the idle workers first, then queue ahead, so a batch spreads evenly.
        for depth in range(_QUEUE_AHEAD + 1):
            for worker in self._workers:
                while pending and pending[0].key in self._cache:
                    pending.popleft()  # its copy on another worker finished first
                if pending and len(worker.tasks) == depth and worker.can_take(pending[0]):
                    self._send(worker, pending.popleft(), pending)
        if pending:
            return
        for worker in self._workers:
            if worker.ready and not worker.tasks:
                task = self._steal()
                if task is None:
                    return
                self._send(worker, task, pending)

    def _steal(self) -> _Task | None:
        """A copy of a pair queued (not started) behind another worker's current pair."""
        for victim in sorted(self._workers, key=lambda w: w.head_started_at):
            for task in list(victim.tasks)[1:]:
                if not task.stolen and task.key not in self._cache:
                    task.stolen = True
                    return _Task(task.key, task.timeout)
        return None

    def _send(self, worker: _Worker, task: _Task, pending: deque[_Task]) -> None:
        pred, gold, grader = task.key
        self._next_task_id += 1
        task.task_id = self._next_task_id
        try:
            soft_timeout = task.timeout if self.soft_timeout else None
            worker.conn.send((task.task_id, grader, pred, gold, soft_timeout))
        except (BrokenPipeError, ConnectionResetError, OSError):
            # The worker is gone (killed from outside): its pairs go back in line, this one first.
            pending.appendleft(task)
            self._requeue_and_replace(worker, pending)
            return
        if not worker.tasks:
            worker.head_started_at = time.monotonic()
        worker.tasks.append(task)

    def _next_wait_timeout(self) -> float:
        now = time.monotonic()
        deadlines = [w.deadline for w in self._workers if w.tasks]
        deadlines += [w.started_at + _START_TIMEOUT_S for w in self._workers if not w.ready]
        if not deadlines:
            return 1.0
        return max(0.0, min(deadlines) - now)

    def _poll(self, pending: deque[_Task], timeout: float) -> None:
        """Wait for messages or deaths, then handle every message and death there is."""
        waitables: list[Any] = []
        for worker in self._workers:
            waitables += [worker.conn, worker.process.sentinel]
        wait(waitables, timeout)
        for worker in list(self._workers):
            alive = True
            try:
                while worker.conn.poll():
                    self._handle_message(worker, worker.conn.recv())
            except (EOFError, OSError):
                alive = False
            if not alive or not worker.process.is_alive():
                self._handle_death(worker, pending)

    def _handle_message(self, worker: _Worker, message: tuple) -> None:
        if message[0] == "ready":
            worker.ready = True
            self._start_failures = 0
            return
        _, task_id, equal, reason, error, seconds, rule = message
        if not worker.tasks or worker.tasks[0].task_id != task_id:
            return  # cannot happen with one FIFO pipe per worker; never mis-assign a verdict
        task = worker.tasks.popleft()
        verdict = Verdict(equal, reason, seconds, error, task.key[2], rule)
        self._cache.setdefault(task.key, verdict)
        # The worker goes straight on to the next queued pair.
        worker.head_started_at = time.monotonic()

    def _handle_death(self, worker: _Worker, pending: deque[_Task]) -> None:
        exitcode = worker.process.exitcode
        if not worker.ready:
            self._start_failures += 1
            if self._start_failures >= _MAX_START_FAILURES:
                self.close()
                raise MathverifyError(
                    f"grading workers fail to start (exit code {exitcode}): a script that "
                    "grades needs an `if __name__ == '__main__':` guard (workers re-import it), "
                    "and math-verify and sympy must import in a fresh Python"
                )
        if worker.tasks:
            task = worker.tasks.popleft()
            seconds = time.monotonic() - worker.head_started_at
            error = f"grading worker died (exit code {exitcode})"
            self._cache.setdefault(task.key, Verdict(False, ERROR, seconds, error, task.key[2]))
        self._requeue_and_replace(worker, pending)

    def _enforce_deadlines(self, pending: deque[_Task]) -> None:
        now = time.monotonic()
        for worker in list(self._workers):
            if worker.tasks and now >= worker.deadline:
                task = worker.tasks.popleft()
                seconds = now - worker.head_started_at
                self._cache.setdefault(
                    task.key, Verdict(False, TIMEOUT, seconds, None, task.key[2])
                )
                self._requeue_and_replace(worker, pending)
            elif not worker.ready and now >= worker.started_at + _START_TIMEOUT_S:
                self.close()
                raise MathverifyError(
                    f"grading workers did not start within {_START_TIMEOUT_S:.0f} s"
                )

    def _audit(self, pairs: set[tuple[str, str]]) -> None:
        """Append to the audit file the pairs on which the graders disagree about ``equal``
        and, in lenient mode, those whose verdict a rule decided (``verdicts[i].rule``)."""
        if self.audit_path is None or (len(self.graders) < 2 and not self.rules):
            return
        lines = []
        for pred, gold in sorted(pairs):
            verdicts = [self._cache[(pred, gold, name)] for name in self.graders]
            if len({v.equal for v in verdicts}) > 1 or any(v.rule for v in verdicts):
                record = {"pred": pred, "gold": gold, "verdicts": [v.to_dict() for v in verdicts]}
                lines.append(json.dumps(record) + "\n")  # ASCII: lone surrogates survive
        if lines:
            self.audit_path.parent.mkdir(parents=True, exist_ok=True)
            with self.audit_path.open("a", encoding="utf-8") as handle:
                handle.writelines(lines)


def _as_text(answer: object) -> str | None:
    return answer if answer is None or isinstance(answer, str) else str(answer)


def _trivial(pred: str | None, gold: str | None) -> str | None:
    """The reason for a pair that needs no grader, else None."""
    if gold is None or not gold.strip():
        return NO_GOLD
    if pred is None or not pred.strip():
        return EMPTY_PREDICTION
    return None


_shared_pools: dict[tuple[float, str, tuple[str, ...] | None], GradingPool] = {}
_shared_lock = threading.Lock()


def _close_shared_pools() -> None:
    for pool in _shared_pools.values():
        pool.close()
    _shared_pools.clear()


def grade(
    pred: str | None,
    gold: str | None,
    *,
    timeout: float = 5.0,
    mode: str = STRICT,
    rules: Sequence[str] | None = None,
) -> Verdict:
    """Grade one answer against the gold with Math-Verify, in a one-worker pool kept for the process.

    ``mode`` is ``"strict"`` (Math-Verify decides) or ``"lenient"`` (the named ``rules``,
    default all, may change its verdict; see :mod:`mathverify.grading.lenient`). The first
    call per distinct (``timeout``, ``mode``, ``rules``) starts that worker, which takes a
    second or two; later calls reuse it and its cache. Safe to call from several threads.
    For many pairs use :class:`GradingPool` directly: it grades in parallel.
    """
    check_mode(mode)
    trivial = _trivial(_as_text(pred), _as_text(gold))
    if trivial is not None:
        return Verdict(False, trivial, 0.0, None, MATH_VERIFY)
    key = (timeout, mode, None if rules is None else tuple(rules))
    with _shared_lock:
        pool = _shared_pools.get(key)
        if pool is None:
            if not _shared_pools:
                atexit.unregister(_close_shared_pools)
                atexit.register(_close_shared_pools)
            pool = GradingPool(workers=1, timeout=timeout, mode=mode, rules=rules)
            _shared_pools[key] = pool
        return pool.grade(pred, gold)

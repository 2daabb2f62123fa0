"""Crash isolation: framework adapters run in worker processes.

One long-lived worker per framework (torch, mindspore, ...; the numpy reference runs in
the caller), reused across cases so each framework is imported once per worker, and
restarted after it dies. The worker builds the adapter from the case and records its
trajectory (harness/trajectory.py); comparison, attribution and the registry stay in the
caller. A worker that segfaults, aborts, is killed (the kernel's OOM killer sends SIGKILL)
or runs past the per-case timeout makes that implementation's result `crash` with the
signal name or `timeout after N s`; the other implementations of the case and the rest
of the sweep go on.

    OPTIM_PARITY_ISOLATION=0          run adapters in-process (debugging; no protection)
    OPTIM_PARITY_CASE_TIMEOUT=SECONDS per-case timeout (default: 120 s + 20 ms per step);
                                      starting a worker and importing the framework is
                                      not counted (its own limit: 600 s)

Workers use the `spawn` start method: forking a process that has imported torch or
MindSpore (their thread pools) is unsafe.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
from typing import Any

from harness.casefile import Case, case_from_dict, case_to_dict

BASE_TIMEOUT_SECONDS = 120.0
LOAD_TIMEOUT_SECONDS = 600.0
PER_STEP_TIMEOUT_SECONDS = 0.02


class WorkerDied(Exception):
    """The worker process ended (signal, exit) or timed out; the message says how."""


def enabled() -> bool:
    return os.environ.get("OPTIM_PARITY_ISOLATION", "1") != "0"


def case_timeout(case: Case) -> float:
    configured = os.environ.get("OPTIM_PARITY_CASE_TIMEOUT")
    if configured:
        return float(configured)
    return BASE_TIMEOUT_SECONDS + PER_STEP_TIMEOUT_SECONDS * case.num_steps


def _worker_main(connection) -> None:
    """The worker loop: (implementation, case dict) in, a harness.engine.Recording out."""
    from harness.engine import record_in_process

    while True:
        try:
            message = connection.recv()
        except EOFError:
            return
        if message is None:
            return
        kind, name, raw = message
        if kind == "load":  # import the framework before any case's clock starts
            from harness.adapters import load_adapter

            try:
                load_adapter(name)
                connection.send("loaded")
            except Exception as exc:  # reported by the case that follows
                connection.send(f"{type(exc).__name__}: {exc}")
            continue
        connection.send(record_in_process(name, case_from_dict(raw)))


class _Worker:
    loaded: set

    def __init__(self) -> None:
        self.loaded = set()
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child,), daemon=True)
        self.process.start()
        child.close()

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.connection.send(None)
            except (OSError, ValueError):
                pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.connection.close()


def _death(process) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        try:
            return f"worker killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"worker killed by signal {-code}"
    return f"worker exited with code {code}"


class WorkerPool:
    """One worker per framework, started on first use, restarted after a death."""

    def __init__(self) -> None:
        self.workers: dict[str, _Worker] = {}

    def record(self, framework: str, name: str, case: Case, timeout: float | None = None) -> Any:
        """The implementation's harness.engine.Recording, made in the framework's worker.
        Raises WorkerDied when the worker died or timed out."""
        worker = self.workers.get(framework)
        if worker is None or not worker.alive():
            worker = self.workers[framework] = _Worker()
        timeout = case_timeout(case) if timeout is None else timeout
        if name not in worker.loaded:
            # Starting the worker and importing the framework (seconds; more on a loaded
            # machine) are not the case's time: they get their own, generous limit.
            try:
                worker.connection.send(("load", name, None))
                if not worker.connection.poll(LOAD_TIMEOUT_SECONDS):
                    self._discard(framework, kill=True)
                    raise WorkerDied(f"timeout after {LOAD_TIMEOUT_SECONDS:g} s importing {name}")
                worker.connection.recv()
            except (EOFError, OSError):
                worker.process.join(5)
                reason = _death(worker.process)
                self._discard(framework, kill=True)
                raise WorkerDied(f"{reason} while importing {name}") from None
            worker.loaded.add(name)
        try:
            worker.connection.send(("case", name, case_to_dict(case)))
            ready = worker.connection.poll(timeout)
            if ready:
                reply = worker.connection.recv()
        except (EOFError, OSError, BrokenPipeError):
            ready, reply = True, None
        if not ready:
            self._discard(framework, kill=True)
            raise WorkerDied(f"timeout after {timeout:g} s")
        if reply is None:
            worker.process.join(5)
            reason = _death(worker.process)
            self._discard(framework, kill=True)
            raise WorkerDied(reason)
        return reply

    def _discard(self, framework: str, kill: bool) -> None:
        worker = self.workers.pop(framework, None)
        if worker is not None:
            worker.stop(kill=kill)

    def close(self) -> None:
        for framework in list(self.workers):
            self._discard(framework, kill=False)


_pool: WorkerPool | None = None


def pool() -> WorkerPool:
    global _pool
    if _pool is None:
        _pool = WorkerPool()
        atexit.register(_pool.close)
    return _pool


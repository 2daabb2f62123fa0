"""Crash isolation: framework adapters run in worker processes.

One long-lived worker per framework (torch, mindspore, ...; the numpy reference runs in
the caller), reused across cases so each framework is imported once per worker, and
restarted after it dies. The worker builds the adapter from the case and records its
trajectory (harness/trajectory.py); comparison, attribution and the registry stay in the
caller. A worker that segfaults, aborts, is killed (the kernel's OOM killer sends SIGKILL)
or runs past the per-case timeout makes that implementation's result `crash` with the
signal name or `timeout after N s`; the other implementations of the case and the rest
of the sweep go on. A worker records one case at a time; the caller may keep several
workers busy at once (`submit`, then `collect`: harness/engine.py run_case), and a
case's timeout counts from its submission.

    OPTIM_PARITY_ISOLATION=0          run adapters in-process (debugging; no protection)
    OPTIM_PARITY_CASE_TIMEOUT=SECONDS per-case timeout (default: 120 s + 20 ms per step);
                                      starting a worker and importing the framework is
                                      not counted (its own limit: 600 s)

Workers are fresh interpreters (`python -c`) talking over a socket pair on an inherited
descriptor: forking a process that has imported torch or MindSpore (their thread pools)
is unsafe, and multiprocessing's `spawn` re-imports the caller's __main__, so every
script calling the harness would need a main guard. A worker never starts workers.
"""

from __future__ import annotations

import atexit
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from harness.casefile import Case

BASE_TIMEOUT_SECONDS = 120.0
LOAD_TIMEOUT_SECONDS = 600.0
PER_STEP_TIMEOUT_SECONDS = 0.02
OUT_OF_BAND_BYTES = 1 << 16
# Set in every worker's environment: a worker that reaches WorkerPool.record is running
# a caller's code it imported by accident (a script beside the caller named like a
# standard module, imported by a framework); starting workers from there is a fork bomb.
INSIDE_WORKER_ENV = "OPTIM_PARITY_INSIDE_WORKER"


class WorkerDied(Exception):
    """The worker process ended (signal, exit) or timed out; the message says how."""


def enabled() -> bool:
    return os.environ.get("OPTIM_PARITY_ISOLATION", "1") != "0"


def case_timeout(case: Case) -> float:
    configured = os.environ.get("OPTIM_PARITY_CASE_TIMEOUT")
    if configured:
        return float(configured)
    return BASE_TIMEOUT_SECONDS + PER_STEP_TIMEOUT_SECONDS * case.num_steps


def _worker_entry() -> None:
    """`python -c ... FD` (see _Worker): serve the connection on the inherited descriptor."""
    _worker_main(Connection(int(sys.argv[1])))


def _worker_main(connection) -> None:
    """The worker loop: (implementation, case dict) in, a harness.engine.Recording out."""
    from harness.engine import record_in_process

    while True:
        try:
            message = _receive_large(connection)
        except EOFError:
            return
        if message is None:
            return
        kind, name, case = message
        if kind == "forget":  # no reply: the next message waits behind it anyway
            from harness.engine import forget_confirmed_declarations

            forget_confirmed_declarations()
            continue
        if kind == "load":  # import the framework before any case's clock starts
            from harness.adapters import load_adapter

            try:
                load_adapter(name)
                connection.send("loaded")
            except Exception as exc:  # reported by the case that follows
                connection.send(f"{type(exc).__name__}: {exc}")
            continue
        _send_large(connection, record_in_process(name, case))


def _send_large(connection, payload: object) -> None:
    """Pickle protocol 5 with the arrays out of band: each array's memory goes down the
    socket as it is, instead of being copied into one pickle first (a 1000-step
    trajectory of 1024 elements is 25 MB). Both ways: a Case goes to the worker as its
    arrays (bit for bit, and without the case file's per-number conversion and checks,
    which cost more than a small case's whole torch run). Arrays under
    OUT_OF_BAND_BYTES stay inside the pickle: one message per small array (a 50-step
    case has 50 gradient arrays) would cost a system call each."""
    buffers: list[pickle.PickleBuffer] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        if buffer.raw().nbytes < OUT_OF_BAND_BYTES:
            return True  # in band
        buffers.append(buffer)
        return False

    header = pickle.dumps(payload, protocol=5, buffer_callback=out_of_band)
    raws = [buffer.raw() for buffer in buffers]
    connection.send((header, [raw.nbytes for raw in raws]))
    for raw in raws:
        connection.send_bytes(raw)


def _receive_large(connection) -> object:
    header, sizes = connection.recv()
    buffers = []
    for size in sizes:
        buffer = bytearray(size)  # writable, so the arrays built on it are too
        if size:
            connection.recv_bytes_into(buffer)
        else:
            connection.recv_bytes()
        buffers.append(buffer)
    return pickle.loads(header, buffers=buffers)


class _Worker:
    loaded: set

    def __init__(self) -> None:
        self.loaded = set()
        parent_end, child_end = socket.socketpair()
        # The caller's sys.path, so the worker imports the same harness and adapters
        # (what spawn passed along); stdout/stderr stay the caller's.
        path = os.pathsep.join(p for p in sys.path if p)
        env = dict(os.environ, PYTHONPATH=path, **{INSIDE_WORKER_ENV: "1"})
        command = [sys.executable, "-c", "from harness.isolation import _worker_entry; _worker_entry()",
                   str(child_end.fileno())]
        try:
            self.process = subprocess.Popen(command, pass_fds=(child_end.fileno(),), env=env,
                                            stdin=subprocess.DEVNULL)
        finally:
            child_end.close()
        self.connection = Connection(parent_end.detach())

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait(self, seconds: float) -> int | None:
        try:
            return self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                _send_large(self.connection, None)
            except (OSError, ValueError):
                pass
        if self.wait(5) is None:
            self.process.kill()
            self.wait(5)
        self.connection.close()


def _death(worker: _Worker) -> str:
    code = worker.wait(5)
    if code is not None and code < 0:
        try:
            return f"worker killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"worker killed by signal {-code}"
    return f"worker exited with code {code}"


@dataclass
class Pending:
    """A case sent to a worker whose recording has not been collected yet."""

    worker: _Worker
    framework: str
    name: str
    timeout: float
    deadline: float  # time.monotonic(): the per-case timeout counts from the submission


class WorkerPool:
    """One worker per framework, started on first use, restarted after a death. A worker
    records one case at a time: `submit` sends it, `collect` waits for its recording,
    so the caller can run other frameworks' workers and the spec meanwhile
    (harness/engine.py run_case)."""

    def __init__(self) -> None:
        self.workers: dict[str, _Worker] = {}
        self.in_flight: dict[str, Pending] = {}

    def record(self, framework: str, name: str, case: Case, timeout: float | None = None) -> Any:
        """The implementation's harness.engine.Recording, made in the framework's worker.
        Raises WorkerDied when the worker died or timed out, or when called inside a
        worker (a worker never starts workers)."""
        return self.collect(self.submit(framework, name, case, timeout))

    def submit(self, framework: str, name: str, case: Case, timeout: float | None = None) -> Pending:
        """Send the case to the framework's worker (started, and the implementation
        imported, first where needed). Raises WorkerDied as `record` does."""
        if os.environ.get(INSIDE_WORKER_ENV):
            raise WorkerDied("a worker process may not start workers: is a file on sys.path shadowing a "
                             "standard module and running the caller's script?")
        abandoned = self.in_flight.get(framework)
        if abandoned is not None:
            # Submitted and never collected (the caller failed in between): its reply
            # must not be read as this case's.
            try:
                self.collect(abandoned)
            except WorkerDied:
                pass
        worker = self.workers.get(framework)
        if worker is None or not worker.alive():
            worker = self.workers[framework] = _Worker()
        timeout = case_timeout(case) if timeout is None else timeout
        if name not in worker.loaded:
            # Starting the worker and importing the framework (seconds; more on a loaded
            # machine) are not the case's time: they get their own, generous limit.
            try:
                _send_large(worker.connection, ("load", name, None))
                if not worker.connection.poll(LOAD_TIMEOUT_SECONDS):
                    self._discard(framework, kill=True)
                    raise WorkerDied(f"timeout after {LOAD_TIMEOUT_SECONDS:g} s importing {name}")
                worker.connection.recv()
            except (EOFError, OSError):
                reason = _death(worker)
                self._discard(framework, kill=True)
                raise WorkerDied(f"{reason} while importing {name}") from None
            worker.loaded.add(name)
        pending = Pending(worker, framework, name, timeout, time.monotonic() + timeout)
        try:
            _send_large(worker.connection, ("case", name, case))
        except (OSError, BrokenPipeError):
            pass  # the worker died: collect reads the end of the connection and says how
        self.in_flight[framework] = pending
        return pending

    def collect(self, pending: Pending) -> Any:
        """The recording of a submitted case; raises WorkerDied when the worker died or
        ran past the case's timeout (it is then stopped; the next case starts a new one)."""
        if self.in_flight.get(pending.framework) is pending:
            del self.in_flight[pending.framework]
        worker = pending.worker
        try:
            ready = worker.connection.poll(max(pending.deadline - time.monotonic(), 0.0))
            reply = _receive_large(worker.connection) if ready else None
        except (EOFError, OSError, BrokenPipeError):
            ready, reply = True, None
        if not ready:
            self._discard(pending.framework, kill=True, only=worker)
            raise WorkerDied(f"timeout after {pending.timeout:g} s")
        if reply is None:
            reason = _death(worker)
            self._discard(pending.framework, kill=True, only=worker)
            raise WorkerDied(reason)
        return reply

    def forget_confirmed_declarations(self) -> None:
        """Every live worker forgets the declared failures it has confirmed
        (harness/engine.py), before the cases it is sent next."""
        for worker in self.workers.values():
            if worker.alive():
                try:
                    _send_large(worker.connection, ("forget", None, None))
                except OSError:
                    pass  # a dead worker is noticed by its next case

    def _discard(self, framework: str, kill: bool, only: _Worker | None = None) -> None:
        """Stop the framework's worker (`only`: if it is still that one)."""
        if only is not None and self.workers.get(framework) is not only:
            only.stop(kill=kill)
            return
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


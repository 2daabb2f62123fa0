"""Crash isolation: framework adapters run in worker processes.

One long-lived worker per framework (torch, mindspore, ...; the numpy reference runs in
the caller), reused across cases so each framework is imported once per worker, and
restarted after it dies. The worker builds the adapter from the case and records its
trajectory (harness/recording.py record_in_process); comparison, attribution and the
registry stay in the caller. Each worker keeps its own memo of confirmed declarations
(harness/recording.py); `reset_declarations()` forgets them here and in every live
worker. A worker that segfaults, aborts, is killed (the kernel's OOM killer sends
SIGKILL) or runs past the per-case timeout makes that implementation's result `crash`
with the signal name or `timeout after N s`; the other implementations of the case and
the rest of the sweep go on. A worker records one case at a time; the caller may keep
several workers busy at once (`submit`, then `collect`: harness/engine.py run_case), and
a case's timeout counts from its submission.

    OPTIM_PARITY_ISOLATION=0          run adapters in-process (debugging; no protection)
    OPTIM_PARITY_CASE_TIMEOUT=SECONDS per-case timeout (default: 120 s + 20 ms per step);
                                      starting a worker and importing the framework is
                                      not counted (its own limit: 600 s)

Workers are fresh interpreters (`python -c`) talking over a socket pair on an inherited
descriptor: forking a process that has imported torch or MindSpore (their thread pools)
is unsafe, and multiprocessing's `spawn` re-imports the caller's __main__, so every
script calling the harness would need a main guard. A worker never starts workers.

Workers die with their caller: a busy worker would otherwise be re-parented and record
its case to the end (minutes) when the caller is killed. The caller passes its pid; on
Linux the worker asks the kernel for SIGKILL when its parent dies (prctl
PR_SET_PDEATHSIG; only when started from the caller's main thread, as the kernel sends it
when the starting *thread* ends), then checks that the parent is still the one it was
given (it may have died before the prctl); everywhere, a watchdog thread ends the worker
within about a second of its parent changing. A worker ignores SIGINT (a terminal's
Ctrl-C reaches the whole process group: the caller decides, and stops its workers) and
leaves quietly when the connection breaks. `optim-parity` turns SIGTERM into the same
clean end as Ctrl-C (harness/cli.py main: `sigterm_raises_terminated`, `stop_workers`).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Callable

from harness import settings
from harness.adapters import load_adapter
from harness.casefile import Case
from harness.recording import Recording, forget_confirmed_declarations, record_in_process
from harness.trajectory_files import TRAJECTORY_DIR_ENV

BASE_TIMEOUT_SECONDS = 120.0
LOAD_TIMEOUT_SECONDS = 600.0
PER_STEP_TIMEOUT_SECONDS = 0.02
OUT_OF_BAND_BYTES = 1 << 16
# Set in every worker's environment: a worker that reaches WorkerPool.record is running
# a caller's code it imported by accident (a script beside the caller named like a
# standard module, imported by a framework); starting workers from there is a fork bomb.
INSIDE_WORKER_ENV = "OPTIM_PARITY_INSIDE_WORKER"
PARENT_POLL_SECONDS = 1.0  # the watchdog's check of the worker's parent
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# What a worker's end of the connection raises once the caller is gone or closed it.
CONNECTION_LOST = (EOFError, BrokenPipeError, ConnectionResetError)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread after `sigterm_raises_terminated` (a BaseException, like
    KeyboardInterrupt, so that no `except Exception` takes it for a failure)."""


class WorkerDied(Exception):
    """The worker process ended (signal, exit) or timed out; the message says how."""


def enabled() -> bool:
    return os.environ.get("OPTIM_PARITY_ISOLATION", "1") != "0"


def case_timeout(case: Case) -> float:
    configured = settings.case_timeout()
    if configured is not None:
        return configured
    return BASE_TIMEOUT_SECONDS + PER_STEP_TIMEOUT_SECONDS * case.num_steps


def _worker_entry() -> None:
    """`python -c ... FD PARENT_PID FROM_MAIN_THREAD` (see _Worker): serve the connection
    on the inherited descriptor while the parent lives."""
    descriptor, parent_pid, from_main_thread = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
    _die_with_parent(parent_pid, death_signal=from_main_thread)
    _worker_main(Connection(descriptor))


def _die_with_parent(parent_pid: int, death_signal: bool) -> None:
    """End this process when `parent_pid` ends, however it ends (SIGKILL included).
    death_signal: ask Linux for SIGKILL at the parent's death (only right when the parent
    started us from its main thread: the kernel sends it when that *thread* ends)."""
    if death_signal and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0),
                       ctypes.c_ulong(0), ctypes.c_ulong(0))
        except (OSError, AttributeError):
            pass  # the watchdog below still ends the worker
    if os.getppid() != parent_pid:  # the parent died before the prctl: no signal will come
        os._exit(1)

    def watch_parent() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)  # re-parented: nobody will read this worker's recording

    threading.Thread(target=watch_parent, name="optim-parity-parent-watchdog", daemon=True).start()


def _worker_main(connection) -> None:
    """The worker loop: (implementation, case dict) in, a harness.recording.Recording out.
    Returns when the caller says so, closes its end or is gone."""
    while True:
        try:
            message = _receive_large(connection)
        except CONNECTION_LOST:
            return
        if message is None:
            return
        kind, name, case = message
        if kind == "forget":  # no reply: the next message waits behind it anyway
            forget_confirmed_declarations()
            continue
        if kind == "load":  # import the framework before any case's clock starts
            try:
                load_adapter(name)
                reply = "loaded"
            except Exception as exc:  # reported by the case that follows
                reply = f"{type(exc).__name__}: {exc}"
        else:
            reply = record_in_process(name, case)
        try:
            if kind == "load":
                connection.send(reply)
            else:
                _send_large(connection, reply)
        except CONNECTION_LOST:  # the caller is gone: nobody is left to tell
            return


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

    def __init__(self, trajectory_directory: str) -> None:
        self.loaded = set()
        parent_end, child_end = socket.socketpair()
        # The caller's sys.path, so the worker imports the same harness and adapters
        # (what spawn passed along); stdout/stderr stay the caller's.
        path = os.pathsep.join(p for p in sys.path if p)
        # Large trajectories go to files there, not whole through the socket (harness/trajectory_files.py).
        env = dict(os.environ, PYTHONPATH=path, **{INSIDE_WORKER_ENV: "1", TRAJECTORY_DIR_ENV: trajectory_directory})
        # SIGINT ignored first thing, before the imports (the slow part of the start):
        # Ctrl-C reaches the worker too, and the caller decides what it means.
        command = [sys.executable, "-c", "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                                         "from harness.isolation import _worker_entry; _worker_entry()",
                   str(child_end.fileno()), str(os.getpid()),
                   "1" if threading.current_thread() is threading.main_thread() else "0"]
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
        self.directory: str | None = None

    def record(self, framework: str, name: str, case: Case, timeout: float | None = None) -> Recording:
        """The implementation's recording (harness/recording.py), made in the framework's worker.
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
            worker = self.workers[framework] = _Worker(self.trajectory_directory())
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

    def collect(self, pending: Pending) -> Recording:
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
        (harness/recording.py), before the cases it is sent next."""
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

    def trajectory_directory(self) -> str:
        """The directory the workers keep large trajectories in (made at the first worker's
        start, removed with what is left in it when the pool closes)."""
        if self.directory is None:
            self.directory = tempfile.mkdtemp(prefix="optim-parity-trajectories-")
        return self.directory

    def close(self, kill: bool = False) -> None:
        """Stop every worker: at once when `kill` or when it has a case in flight (its
        recording would never be read), otherwise once it has read the end."""
        for framework in list(self.workers):
            self._discard(framework, kill=kill or framework in self.in_flight)
        self.in_flight.clear()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


_pool: WorkerPool | None = None


def pool() -> WorkerPool:
    global _pool
    if _pool is None:
        _pool = WorkerPool()
        atexit.register(_pool.close)
    return _pool


def reset_declarations() -> None:
    """Forget the confirmed declarations (harness/recording.py), in this process and in
    its live workers: a report starts from none, so the same cases give the same results
    file byte for byte, whatever ran in this process before (a later case of a confirmed
    kind says so in its message). Inside a worker: its own only."""
    forget_confirmed_declarations()
    if _pool is not None and not os.environ.get(INSIDE_WORKER_ENV):
        _pool.forget_confirmed_declarations()


def stop_workers() -> None:
    """Kill this process's workers now (an interrupted caller: nothing they record will be read)."""
    if _pool is not None:
        _pool.close(kill=True)


def sigterm_raises_terminated() -> Callable[[], None]:
    """From now on SIGTERM raises Terminated in the main thread, as SIGINT raises
    KeyboardInterrupt, so that one clean path ends both. Returns the function that puts
    SIGTERM's and SIGINT's handlers back (`ignore_interrupts` may have changed them).
    Outside the main thread (where handlers cannot be set), or with SIGTERM ignored: no
    change."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        return lambda: None

    def raise_terminated(signum, frame):
        raise Terminated()

    previous_sigint = signal.getsignal(signal.SIGINT)  # None: not set from Python, left alone
    previous_sigterm = signal.signal(signal.SIGTERM, raise_terminated)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous_sigterm if previous_sigterm is not None else signal.SIG_DFL)
        if previous_sigint is not None:
            signal.signal(signal.SIGINT, previous_sigint)

    return restore


def ignore_interrupts() -> None:
    """Ignore SIGINT and SIGTERM from now on in the main thread (a caller that is ending:
    a second Ctrl-C must not break its clean-up with a traceback)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


"""Ending a run early, with real processes and real signals: Ctrl-C (SIGINT to the whole
process group) and SIGTERM end `optim-parity` with one line, 130 / 143 and no traceback;
SIGKILL of the caller ends its workers too (harness/isolation.py). A worker is caught
mid-step by tests/sleeping_adapters.py, which records its pid and then sleeps."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.results import write_text_atomic

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PID_FILE_ENV = "OPTIM_PARITY_TEST_PID_FILE"  # tests/sleeping_adapters.py
IMPLEMENTATIONS = ["reference", "sleep-step"]
START_SECONDS = 60  # starting the caller and its worker, on a loaded machine
WORKER_GONE_SECONDS = 10  # the sleeping worker would otherwise live an hour

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads processes from /proc")

# `python -m harness` with SIGINT's default handler: a shell's background job (`make test &`)
# starts with SIGINT ignored, and Python keeps that.
CLI = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
       "runpy.run_module('harness', run_name='__main__', alter_sys=True)")

# The sleeping implementation's worker is started by a thread that has ended before the
# next case: the worker must serve that case, and die with this process all the same.
THREAD_DRIVER = """
import sys, threading
from harness.casefile import load_case
from harness.engine import run_case
implementations = sys.argv[3:]
first = threading.Thread(target=run_case, args=(load_case(sys.argv[1]), implementations))
first.start()
first.join()
run_case(load_case(sys.argv[2]), implementations)
"""


def _case_file(directory: Path, steps: int) -> Path:
    """A case of `steps` steps: 1 finishes, 2 or more sleeps in the sleeping implementation."""
    path = directory / f"case-{steps}-steps.json"
    grads = ", ".join("[[0.1, -0.2]]" for _ in range(steps))
    path.write_text('{"schema": "optim-parity/case/1", "dtype": "float32", "hyperparameters": {}, '
                    f'"params": [{{"name": "w", "shape": [2], "value": [0.5, -1.0]}}], "grads": [{grads}]}}')
    return path


class Run:
    """A caller process in its own session (so that a signal to its process group reaches
    it and its workers only), with its workers' pids and their shared stderr."""

    def __init__(self, directory: Path, script: str, *args: str) -> None:
        self.pid_file = directory / "worker-pids"
        self.stderr_path = directory / "stderr"
        env = dict(os.environ, OPTIM_PARITY_ISOLATION="1", **{PID_FILE_ENV: str(self.pid_file)},
                   OPTIM_PARITY_EXTRA_IMPLEMENTATIONS=f"sleep-step={HERE / 'sleeping_adapters.py'}:SleepAdapter")
        env.pop("OPTIM_PARITY_CASE_TIMEOUT", None)
        # Files, not pipes: an orphaned worker holding a pipe would keep a read blocked.
        with open(directory / "stdout", "wb") as stdout, open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT, env=env,
                                            stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                            start_new_session=True)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def worker_pids(self, count: int) -> list[int]:
        """The pids the sleeping implementation recorded, once there are `count`."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            lines = self.pid_file.read_text().splitlines() if self.pid_file.exists() else []
            if len(lines) >= count:
                return [int(line) for line in lines]
            assert self.process.poll() is None, f"caller ended early ({self.process.returncode}):\n{self.stderr()}"
            time.sleep(0.05)
        raise AssertionError(f"no worker recorded its pid within {START_SECONDS} s:\n{self.stderr()}")

    def end(self) -> None:
        """Kill whatever a failing test left running."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        pids = self.pid_file.read_text().split() if self.pid_file.exists() else []
        for pid in {int(pid) for pid in pids}:
            if _worker_alive(pid):
                os.kill(pid, signal.SIGKILL)


def _worker_alive(pid: int) -> bool:
    """A worker process with this pid runs (a zombie left for a parent that does not reap is
    dead; so is a process that took the pid over)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z" and b"_worker_entry" in command


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _worker_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("signal_number, to_group, code, line", [
    (signal.SIGINT, True, 130, "optim-parity: interrupted"),  # Ctrl-C: the terminal signals the group
    (signal.SIGTERM, False, 143, "optim-parity: terminated"),  # `kill PID`
], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_replay_ends_cleanly_with_its_workers(tmp_path, signal_number, to_group, code, line):
    out = tmp_path / "out"
    run = Run(tmp_path, CLI, "replay", str(_case_file(tmp_path, 3)), "--impl", *IMPLEMENTATIONS,
              "--json", str(out / "result.json"))
    try:
        [worker] = run.worker_pids(1)
        if to_group:
            os.killpg(run.process.pid, signal_number)
        else:
            run.process.send_signal(signal_number)
        assert run.process.wait(timeout=30) == code, run.stderr()
        assert _gone_within(worker, WORKER_GONE_SECONDS)
        stderr = run.stderr()
        assert "Traceback" not in stderr and stderr.strip().splitlines()[-1] == line, stderr
        assert not out.exists() or not list(out.iterdir())  # no result, no .tmp
    finally:
        run.end()


def test_a_killed_caller_takes_its_busy_worker_with_it(tmp_path):
    run = Run(tmp_path, CLI, "replay", str(_case_file(tmp_path, 3)), "--impl", *IMPLEMENTATIONS)
    try:
        [worker] = run.worker_pids(1)
        run.process.kill()
        run.process.wait(timeout=30)
        assert _gone_within(worker, WORKER_GONE_SECONDS)
        assert "Traceback" not in run.stderr()
    finally:
        run.end()


def test_a_worker_started_by_an_ended_thread_serves_on_and_dies_with_its_caller(tmp_path):
    # Linux's parent-death signal follows the starting *thread*, so such a worker relies on
    # its watchdog.
    run = Run(tmp_path, THREAD_DRIVER, str(_case_file(tmp_path, 1)), str(_case_file(tmp_path, 3)),
              *IMPLEMENTATIONS)
    try:
        first, second = run.worker_pids(2)
        assert first == second  # the same worker, alive after its starting thread ended
        run.process.kill()
        run.process.wait(timeout=30)
        assert _gone_within(second, WORKER_GONE_SECONDS)
        assert "Traceback" not in run.stderr()
    finally:
        run.end()


def test_an_interrupted_atomic_write_leaves_no_tmp_file(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    target.write_text("old\n")
    write_text = Path.write_text

    def write_half_then_interrupt(path, text, *args, **kwargs):
        write_text(path, text[: len(text) // 2], *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", write_half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_text_atomic("new " * 1000, target)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]
    assert target.read_text() == "old\n"

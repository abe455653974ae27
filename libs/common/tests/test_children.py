"""reflex_common.testing.children: the child processes of tests, `make run` and `make bench`, with real
processes (small Python commands)."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from reflex_common.testing import free_port
from reflex_common.testing.children import Child, NotReady, RestartPolicy, Supervised, stop_all, wait_ready

pytestmark = pytest.mark.slow


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def wait_for(condition: object, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_output_goes_line_by_line_to_the_callback_and_the_tail_keeps_the_last_lines() -> None:
    seen: list[str] = []
    child = Child("printer", python("for i in range(40): print(f'line {i}')"), on_line=seen.append)
    assert child.wait(30) == 0
    child.finish_output()
    assert seen == [f"line {i}" for i in range(40)]
    assert child.tail(3) == "line 37\nline 38\nline 39"
    assert child.exit_description() == "code 0"


def test_output_to_a_log_file_and_its_tail(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    child = Child("logger", python("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"), log=log)
    assert child.wait(30) == 3
    assert sorted(log.read_text().split()) == ["err", "out"]
    assert sorted(child.tail().split()) == ["err", "out"]
    assert child.exit_description() == "code 3"


def test_at_most_one_output_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at most one"):
        Child("x", python("pass"), log=tmp_path / "x.log", pipe=True)


def test_kill_takes_the_whole_process_group_and_reports_the_signal() -> None:
    # The child starts a grandchild and prints its pid; SIGKILL to the group must take both.
    code = "import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
    code += " print(p.pid, flush=True); time.sleep(60)"
    seen: list[str] = []
    child = Child("parent", python(code), on_line=seen.append)
    wait_for(lambda: seen)
    grandchild = int(seen[0])
    child.kill()
    assert child.returncode == -signal.SIGKILL
    assert child.exit_description() == "code -9 (SIGKILL)"
    wait_for(lambda: not Path(f"/proc/{grandchild}").exists() or _state(grandchild) == "Z")


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


def test_stop_all_terminates_together_and_kills_what_ignores_sigterm() -> None:
    polite = Child("polite", python("import time; time.sleep(60)"))
    ready: list[str] = []
    stubborn = Child(
        "stubborn",
        python(
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ok', flush=True);"
            " time.sleep(60)"
        ),
        on_line=ready.append,
    )
    wait_for(lambda: ready)
    killed: list[str] = []
    stop_all([polite, stubborn], grace_s=0.5, on_kill=lambda c: killed.append(c.name))
    assert polite.returncode == -signal.SIGTERM
    assert stubborn.returncode == -signal.SIGKILL
    assert killed == ["stubborn"]
    assert polite.stop(1) == -signal.SIGTERM  # stopping a stopped child is harmless


def test_wait_ready_names_the_child_that_exited_with_its_last_lines() -> None:
    child = Child("broken", python("import sys; print('port 8080 in use'); sys.exit(2)"), on_line=lambda _: None)
    with pytest.raises(NotReady, match=r"broken exited with code 2; last lines:\nport 8080 in use") as info:
        wait_ready([f"http://127.0.0.1:{free_port()}/readyz"], [child], 30)
    assert info.value.child is child


def test_wait_ready_is_true_once_every_url_answers_and_false_when_stopped() -> None:
    port = free_port()
    server = Child("http", [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"])
    try:
        assert wait_ready([f"http://127.0.0.1:{port}/"], [server], 30) is True
        assert wait_ready([f"http://127.0.0.1:{free_port()}/"], [server], 30, stopped=lambda: True) is False
        with pytest.raises(NotReady, match="did not answer 200 within 0 s"):
            wait_ready([f"http://127.0.0.1:{free_port()}/"], [server], 0)
    finally:
        server.stop(10)


def test_backoff_doubles_per_recent_exit_up_to_its_maximum() -> None:
    policy = RestartPolicy(backoff_initial_s=1, backoff_max_s=30)
    assert [policy.backoff_s(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_supervised_child_is_restarted_after_its_backoff_and_given_up_on_after_max_exits() -> None:
    starts: list[Child] = []
    said: list[str] = []

    def start() -> Child:
        starts.append(Child("crasher", python("print('boom'); raise SystemExit(3)"), on_line=lambda _: None))
        return starts[-1]

    policy = RestartPolicy(max_crashes=3, window_s=60, backoff_initial_s=1, backoff_max_s=30)
    supervised = Supervised("crasher", start, policy, said.append)
    now = 1000.0
    for backoff in (1, 2):
        supervised.child.wait(30)
        supervised.check(now)  # the exit is noticed: reported, restart scheduled
        assert said[-1] == f"restarting crasher in {backoff} s (exit {backoff} within 60 s; exit 3 gives up)"
        assert said[-3:-1] == ["crasher exited with code 3; last lines:", "    boom"]
        supervised.check(now + backoff - 0.5)
        assert len(starts) == backoff  # not before the backoff has passed
        now += backoff
        supervised.check(now)
        assert len(starts) == backoff + 1
    supervised.child.wait(30)
    supervised.check(now)
    assert supervised.gave_up
    assert said[-1] == "crasher exited 3 times within 60 s: giving up on it"
    supervised.check(now + 100)
    assert len(starts) == 3


def test_exits_older_than_the_window_do_not_count() -> None:
    said: list[str] = []
    policy = RestartPolicy(max_crashes=2, window_s=10, backoff_initial_s=1)
    supervised = Supervised("crasher", lambda: Child("crasher", python("raise SystemExit(1)")), policy, said.append)
    now = 0.0
    for _ in range(3):
        supervised.child.wait(30)
        supervised.check(now)
        assert not supervised.gave_up
        assert said[-1].startswith("restarting crasher in 1 s (exit 1 within 10 s")
        now += 11
        supervised.check(now)
    supervised.child.wait(30)

"""Child processes (Rasa, action servers, nginx, the stack scripts) that never outlive the test
or bench run that started them.

Each child gets its own process group (so it can be stopped with everything it started) and:

* ``PR_SET_PDEATHSIG`` (Linux): the kernel signals the child when its parent dies, even when
  the parent is SIGKILLed or pytest-timeout ends it with ``os._exit``;
* an ``atexit`` hook and SIGTERM/SIGHUP handlers in the parent that kill every group still
  running (the kernel only signals the direct child, not what it started).

The death signal is bound to the *thread* that forked, so it is set only when the child is
started from the main thread; children started from worker threads rely on the hooks.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import subprocess
import sys
import threading
from typing import Any, Callable, Optional

PR_SET_PDEATHSIG = 1
# Loaded here, not in the forked child (dlopen there could deadlock on a lock another thread held).
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_children: list[subprocess.Popen] = []
_installed = False


def _death_signal(sig: int) -> Optional[Callable[[], None]]:
    libc = _LIBC
    if libc is None or threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()

    def preexec() -> None:  # runs in the child between fork and exec
        libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: go now
            os.kill(os.getpid(), sig)

    return preexec


def spawn(cmd: list[str], *, death_signal: int = signal.SIGKILL, **kwargs: Any) -> subprocess.Popen:
    """``subprocess.Popen`` in a new session whose group dies with this process.

    ``death_signal``: SIGKILL for plain servers; SIGTERM for a script that must stop its own
    children (run_stack.sh, run_two_instances.sh)."""
    return adopt(subprocess.Popen(cmd, **popen_kwargs(death_signal), **kwargs))


def popen_kwargs(death_signal: int = signal.SIGKILL) -> dict[str, Any]:
    """The Popen arguments of :func:`spawn`, for a library that starts the process itself
    (Selenium's ``Service(popen_kw=...)``); pass the process to :func:`adopt` afterwards."""
    _install()
    return {"start_new_session": True, "preexec_fn": _death_signal(death_signal)}


def adopt(proc: subprocess.Popen) -> subprocess.Popen:
    """Kill ``proc``'s group at exit or on a fatal signal, like a spawned child."""
    _install()
    _children.append(proc)
    return proc


def stop(proc: subprocess.Popen, grace: float = 15) -> None:
    """SIGTERM the child's group, SIGKILL it after ``grace`` seconds."""
    if proc.poll() is None:
        _killpg(proc, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            _killpg(proc, signal.SIGKILL)
            proc.wait(5)
    if proc in _children:
        _children.remove(proc)


def kill_all() -> None:
    """SIGKILL the group of every child still running (at exit, or on a fatal signal)."""
    while _children:
        proc = _children.pop()
        if proc.poll() is None:
            _killpg(proc, signal.SIGKILL)


def _killpg(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # its own session: group id == pid
    except (ProcessLookupError, PermissionError):
        pass


def _install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    atexit.register(kill_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            kill_all()
            if previous == signal.SIG_IGN:
                return
            if callable(previous):
                previous(signum, frame)
            else:  # default action: die of the same signal
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)

        signal.signal(sig, handler)

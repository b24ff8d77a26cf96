"""What runs in the password-hashing processes: bcrypt at the lowest CPU priority.

A module of its own, importing bcrypt alone, so that a hashing process starts in milliseconds
instead of importing the service (reservations/accounts/passwords.py starts them)."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading

import bcrypt

HASHING_NICENESS = 19  # the nice value of hashing where SCHED_IDLE is refused
PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies


def start() -> None:
    """Set up a hashing process: the lowest priority, and an end with the process that started
    it (killed or not, so that no hashing process outlives a worker)."""
    lower_priority()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:
        # The parent died before prctl (the orphan went to init or to a subreaper): nobody
        # will ask for a hash.
        os._exit(0)


def lower_priority() -> None:
    """Run the calling thread (only) at the lowest priority. Linux schedules each thread on its
    own, by its thread id; elsewhere that id would name a process, so nothing is done."""
    if not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        # Preempted at once by any normal thread that wakes up, e.g. an event loop.
        os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):
        with contextlib.suppress(OSError):  # refused too: run at normal priority
            os.setpriority(os.PRIO_PROCESS, thread, HASHING_NICENESS)


def hash_password(password: bytes, salt: bytes) -> bytes:
    return bcrypt.hashpw(password, salt)


def check_password(password: bytes, hashed: bytes) -> bool:
    return bcrypt.checkpw(password, hashed)

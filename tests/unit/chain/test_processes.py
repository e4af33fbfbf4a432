"""pid_alive: the liveness check devnet and the IPFS node control share."""

from __future__ import annotations

import os
import subprocess
import sys

from chain.processes import pid_alive


def test_running_process_is_alive_and_reaped_one_is_not() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert pid_alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not pid_alive(child.pid)


def test_own_process_is_alive() -> None:
    assert pid_alive(os.getpid())

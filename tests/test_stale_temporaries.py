"""Temporaries of killed runs are recognised as stale, including those of a killed process
that nobody has reaped yet (a zombie still answers kill(pid, 0))."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from deblurcore.media import atomic


def _zombie() -> subprocess.Popen:
    """A child that has exited and that we deliberately do not wait for."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    stat = Path(f"/proc/{child.pid}/stat")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = stat.read_text()
        if text[text.rfind(")") + 2] == "Z":
            return child
        time.sleep(0.01)
    raise AssertionError("the child did not exit")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_stale_temporaries_of_an_unreaped_process_are_removed(tmp_path):
    child = _zombie()
    try:
        stale = tmp_path / f".out.png{atomic.TEMP_TAG}{child.pid}-abc"
        stale.write_bytes(b"half")
        live = tmp_path / f".out.png{atomic.TEMP_TAG}{atomic.os.getpid()}-def"
        live.write_bytes(b"mine")
        atomic.remove_stale_temporaries(tmp_path, "out.png")
        assert not stale.exists()
        assert live.exists()  # this process's own temporary is never touched
    finally:
        child.wait()

"""Progress of compiling and sampling shows in logs (not a terminal) as plain, timed lines."""

from __future__ import annotations

import io
import time

import pytest

from asem_bayes.progress import stage


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_start_heartbeat_and_end_lines():
    log = io.StringIO()
    with stage("sampling 'asem'", every=0.05, stream=log):
        time.sleep(0.3)
    lines = log.getvalue().splitlines()
    assert lines[0].endswith("sampling 'asem' ...")
    assert any("running for" in ln for ln in lines[1:-1])
    assert "sampling 'asem': done after 0 s" in lines[-1]
    assert all(ln.startswith("[") for ln in lines)  # each line timestamped


def test_a_terminal_gets_no_heartbeat_and_the_bar_line_is_ended():
    term = _Terminal()
    with stage("sampling", every=0.01, bar=True, stream=term):
        time.sleep(0.1)
        term.write("sampling 100%|#####|")  # what a progress bar may leave without a newline
    text = term.getvalue()
    assert "running for" not in text
    assert "|\n[" in text  # the end line starts on a line of its own


def test_a_failed_step_says_it_stopped_and_disabled_is_silent():
    log = io.StringIO()
    with pytest.raises(RuntimeError), stage("compiling", stream=log):
        raise RuntimeError("boom")
    assert "compiling: stopped after" in log.getvalue()
    quiet = io.StringIO()
    with stage("compiling", enabled=False, stream=quiet):
        pass
    assert quiet.getvalue() == ""

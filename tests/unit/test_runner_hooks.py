"""Which hooks reconfigure runs in its own process: the module's shims, and nothing else."""

from __future__ import annotations

import io
import sys

import pytest

from eole_conteneurs.context import Context
from eole_conteneurs.journal import Journal
from eole_conteneurs.runner import Runner, _same_interpreter_as_shims, shim_phase
from tests.conftest import CHECKOUT


@pytest.mark.parametrize("phase", ["pretemplate", "posttemplate"])
def test_the_module_shims_are_recognised(phase):
    assert shim_phase(CHECKOUT / phase / "60-conteneurs") == phase


@pytest.mark.parametrize("text", [
    '#!/bin/sh\nexec /usr/bin/python3 -m eole_conteneurs.hooks pretemplate "$@"\ntouch /tmp/x\n',
    '#!/bin/sh\ntouch /tmp/x\nexec /usr/bin/python3 -m eole_conteneurs.hooks pretemplate "$@"\n',
    '#!/bin/sh\nexec /usr/local/bin/python3 -m eole_conteneurs.hooks pretemplate "$@"\n',
    '#!/bin/sh\nexec /usr/bin/python3 -m eole_conteneurs.hooks postservice "$@"\n',
    '#!/bin/sh\nexport PYTHONPATH=/tmp\nexec /usr/bin/python3 -m eole_conteneurs.hooks pretemplate "$@"\n',
    '#!/bin/sh\n',
    "\xff\xfe",
])
def test_anything_else_is_run_as_a_script(tmp_path, text):
    hook = tmp_path / "hook"
    hook.write_bytes(text.encode("latin-1"))
    assert shim_phase(hook) is None


def test_unreadable_hook_is_run_as_a_script(tmp_path):
    assert shim_phase(tmp_path / "absent") is None


def runner_with(tmp_path, scripts: dict[str, str]) -> Runner:
    phase = tmp_path / "posttemplate"
    phase.mkdir()
    for name, text in scripts.items():
        (phase / name).write_text(text)
        (phase / name).chmod(0o755)
    return Runner(Context(journal=Journal(io.StringIO())), tmp_path)


def test_early_reads_are_kept_while_only_the_module_runs(tmp_path):
    early = object()
    assert runner_with(tmp_path, {})._phase("posttemplate", None, early) is early


def test_early_reads_are_dropped_once_another_script_ran(tmp_path):
    """That script may have changed containers or images: they are read again."""
    runner = runner_with(tmp_path, {"10-autre": "#!/bin/sh\necho autre module\n"})
    assert runner._phase("posttemplate", None, object()) is None
    assert "autre module" in runner.journal.out.getvalue()


def test_in_process_only_in_the_shims_interpreter(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", "/usr/bin/python3")
    assert _same_interpreter_as_shims() is (sys.prefix == sys.base_prefix)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python3"))
    assert _same_interpreter_as_shims() is False

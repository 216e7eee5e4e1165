"""Which hooks reconfigure runs in its own process (the module's shims, byte for byte), and when the
engine reads started early are dropped (as soon as another module's script runs)."""

from __future__ import annotations

import io
import sys

import pytest

from eole_conteneurs.jobs import runner as runner_module
from eole_conteneurs.jobs.context import Job, RunMode, Settings, Templates
from eole_conteneurs.jobs.runner import Runner, _same_interpreter_as_shims
from eole_conteneurs.jobs.shims import SHIMS, own_phase
from eole_conteneurs.journal import Journal
from tests.conftest import CHECKOUT


@pytest.mark.parametrize("phase", ["pretemplate", "posttemplate"])
def test_the_shipped_scripts_are_the_shims(phase):
    """The files the package installs are the texts reconfigure recognises."""
    assert (CHECKOUT / phase / "60-conteneurs").read_text(encoding="utf-8") == SHIMS[phase]
    assert own_phase(CHECKOUT / phase / "60-conteneurs") == phase


@pytest.mark.parametrize("text", [
    SHIMS["pretemplate"] + "touch /tmp/x\n",
    SHIMS["pretemplate"].replace("/usr/bin/python3", "/usr/local/bin/python3"),
    SHIMS["pretemplate"].replace("pretemplate \"$@\"", "postservice \"$@\""),
    SHIMS["pretemplate"].replace("#!/bin/sh\n", "#!/bin/sh\nexport PYTHONPATH=/tmp\n"),
    SHIMS["posttemplate"].replace("\n", "\r\n"),
    '#!/bin/sh\nexec /usr/bin/python3 -m eole_conteneurs.jobs.hooks pretemplate "$@"\n',
    "#!/bin/sh\n",
    "\xff\xfe",
])
def test_anything_else_is_run_as_a_script(tmp_path, text):
    hook = tmp_path / "hook"
    hook.write_bytes(text.encode("latin-1"))
    assert own_phase(hook) is None


def test_unreadable_hook_is_run_as_a_script(tmp_path):
    assert own_phase(tmp_path / "absent") is None


PREFETCH = object()  # stands for engine.prefetch.Prefetch: the runner only keeps or drops it


def job_with_prefetch() -> Job:
    return Job(Settings(), RunMode(False, Templates.RUNNER), Journal(io.StringIO()), PREFETCH)


def runner_with(tmp_path, monkeypatch, scripts: dict[str, str]) -> tuple[Runner, list[str]]:
    """A posttemplate directory with these scripts; the module's own are recorded, not run."""
    phase = tmp_path / "posttemplate"
    phase.mkdir()
    for name, text in scripts.items():
        (phase / name).write_text(text)
        (phase / name).chmod(0o755)
    in_process: list[str] = []

    def record(self, own, job, loaded):
        in_process.append(f"{own}:{'avec' if job.prefetch is PREFETCH else 'sans'} lectures anticipées")
        return 0
    monkeypatch.setattr(Runner, "_run_in_process", record)
    monkeypatch.setattr(runner_module, "_same_interpreter_as_shims", lambda: True)
    return Runner(Settings(), Journal(io.StringIO()), tmp_path), in_process


def test_early_reads_are_kept_while_only_the_module_runs(tmp_path, monkeypatch):
    runner, in_process = runner_with(tmp_path, monkeypatch, {"60-conteneurs": SHIMS["posttemplate"]})
    job = runner._phase("posttemplate", job_with_prefetch(), None)
    assert in_process == ["posttemplate:avec lectures anticipées"]
    assert job.prefetch is PREFETCH


def test_early_reads_are_dropped_once_another_script_ran(tmp_path, monkeypatch):
    """That script may have changed containers or images: the module's own, after it, reads again."""
    runner, in_process = runner_with(tmp_path, monkeypatch, {"10-autre": "#!/bin/sh\necho autre module\n",
                                                             "60-conteneurs": SHIMS["posttemplate"]})
    job = runner._phase("posttemplate", job_with_prefetch(), None)
    assert job.prefetch is None
    assert in_process == ["posttemplate:sans lectures anticipées"]
    assert "autre module" in runner.journal.out.getvalue()


def test_in_process_only_in_the_shims_interpreter(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", "/usr/bin/python3")
    assert _same_interpreter_as_shims() is (sys.prefix == sys.base_prefix)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python3"))
    assert _same_interpreter_as_shims() is False


def test_a_killed_runs_files_go_back_before_any_script_runs(tmp_path, monkeypatch):
    """Other modules' pretemplate scripts must not see (or reload nginx with) files never tested."""
    from eole_conteneurs.config.loading import Loaded
    from eole_conteneurs.config.model import Configuration
    from eole_conteneurs.publish.publication import Publication

    events: list[str] = []
    loaded = Loaded(None, None, Configuration("test", False))
    monkeypatch.setattr(Job, "load", lambda job: loaded)
    for method in ("abandon", "stage", "publish"):
        monkeypatch.setattr(Publication, method, lambda self, method=method: events.append(method))
    monkeypatch.setattr(Publication, "pending", property(lambda self: "publish" not in events))

    def phase(self, name, job, loaded):
        events.append(name)
        return job
    monkeypatch.setattr(Runner, "_phase", phase)
    settings = Settings(templates=tmp_path, lock_file=tmp_path / "verrou", state_dir=tmp_path)
    assert Runner(settings, Journal(io.StringIO()), tmp_path).run() == 0
    assert events == ["abandon", "pretemplate", "stage", "posttemplate", "publish", "postservice"]

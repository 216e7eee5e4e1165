"""Which hooks reconfigure runs in its own process: the module's shims, and nothing else."""

from __future__ import annotations

import pytest

from eole_conteneurs.runner import shim_phase
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

"""The module's own hook scripts, as shipped: reconfigure recognises them by their exact bytes.

A script that is byte for byte one of these only starts an interpreter to call jobs.hooks; the
runner calls it in-process instead. Any other script (another module's, or one of these edited
on the host) is run as it is. The files in pretemplate/ and posttemplate/ are these texts (a
test keeps them equal).
"""

from __future__ import annotations

from pathlib import Path

INTERPRETER = "/usr/bin/python3"
SHIMS = {
    "pretemplate": (
        "#!/bin/sh\n"
        "# reconfigure, pretemplate phase (argument: instance or reconfigure): the docker service running,\n"
        "# IP forwarding on, every declared image pulled. No running container is touched here.\n"
        f'exec {INTERPRETER} -m eole_conteneurs.jobs.hooks pretemplate "$@"\n'
    ),
    "posttemplate": (
        "#!/bin/sh\n"
        "# reconfigure, posttemplate phase (argument: instance or reconfigure): the containers converge to\n"
        "# the configuration (what did not change is not touched), then the host's web server publishes them:\n"
        "# its configuration is tested and it is reloaded only when they changed, the previous files restored otherwise.\n"
        f'exec {INTERPRETER} -m eole_conteneurs.jobs.hooks posttemplate "$@"\n'
    ),
}
SHIM_BYTES = {text.encode("utf-8"): phase for phase, text in SHIMS.items()}
SHIM_SIZES = {len(text) for text in SHIM_BYTES}


def own_phase(hook: Path) -> str | None:
    """The phase of one of the module's own scripts, None for any other (run as it is)."""
    try:
        if hook.stat().st_size not in SHIM_SIZES:
            return None
        return SHIM_BYTES.get(hook.read_bytes())
    except OSError:
        return None

"""Values saved by an earlier release, brought to what the dictionary accepts now.

As EOLE's own upgrade scripts do, a stored value that a variable no longer accepts is
replaced by its new spelling before anything is typed; its owner becomes "upgrade".
Only the values listed here are touched, everything else is kept as it was stored.
"""

from __future__ import annotations

from typing import Any

from eole_conteneurs.creole.raw import RawConfig, RawValue

UPGRADE_OWNER = "upgrade"
# variable -> {old value: new value}
LEGACY_VALUES: dict[str, dict[str, str]] = {
    # Up to 0.3.0 the variable was oui/non: "oui" meant the module's own nginx site, "non" a site of
    # another module's that includes /etc/nginx/web.d/*.conf. automatique does both: its own site on a
    # bare host, none beside a site that includes the module's locations (and Apache where it serves).
    "conteneurs_serveur_web": {"oui": "automatique", "non": "automatique"},
}


def upgraded(raw: RawConfig) -> RawConfig:
    """raw itself when no value needs upgrading; otherwise a copy with the new values."""
    values = dict(raw.values)
    for name, mapping in LEGACY_VALUES.items():
        stored = values.get(name)
        if stored is None:
            continue
        val = _mapped(stored.val, mapping)
        if val != stored.val:
            values[name] = RawValue(val, UPGRADE_OWNER)
    return raw if values == raw.values else RawConfig(raw.source, values)


def _mapped(val: Any, mapping: dict[str, str]) -> Any:
    """A scalar, each entry of a multi, each entry of a slave (kept under its index)."""
    if isinstance(val, list):
        return [_mapped(entry, mapping) for entry in val]
    if isinstance(val, dict):
        return {key: _mapped(entry, mapping) for key, entry in val.items()}
    return mapping.get(val, val) if isinstance(val, str) else val

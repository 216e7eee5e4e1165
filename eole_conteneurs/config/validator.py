"""The collector of problems every validation rule reports to (config/validation.py, config/services.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from eole_conteneurs.creole.values import Values
from eole_conteneurs.errors import InvalidValue


@dataclass(eq=False)
class Validator:
    """Collects every problem of a configuration while it is being checked."""

    values: Values
    problems: list[InvalidValue] = field(default_factory=list)
    host_ports: dict[int, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    web_paths: dict[str, str] = field(default_factory=dict)

    def refuse(self, name: str, value: Any, expected: str, index: int | None = None, reason: str = "valeur refusée",
               secret: bool = False):
        self.problems.append(InvalidValue(name, value, expected, index, reason, secret))

    def scalar(self, name: str) -> Any:
        """A typed value, or None when typing already refused it (reported once)."""
        return None if name in self.values.refused else self.values.get(name)

    def checked(self, name: str, check: Callable[[str], Any], expected: str, index: int | None = None,
                secret: bool = False) -> Any:
        value = self.values.entries(name)[index] if index is not None else self.scalar(name)
        if value is None or name in self.values.refused:
            return None
        try:
            return check(value)
        except ValueError as error:
            self.refuse(name, value, expected, index, str(error) or "valeur refusée", secret)
        except OverflowError:  # a rule's arithmetic on a huge number (float("9" * 400) is inf)
            self.refuse(name, value, expected, index, "nombre trop grand", secret)
        return None


def require_pair(validator: Validator, master_var: str, master_value: Any, slave_var: str, entry: int) -> None:
    """An entry of a master needs its slave and vice versa (gen_config lets either be empty)."""
    slave_value = validator.values.entries(slave_var)[entry]
    if master_value is None and master_var not in validator.values.refused:
        validator.refuse(master_var, None, f"une valeur pour chaque valeur de {slave_var}", entry, "valeur manquante")
    if slave_value is None and slave_var not in validator.values.refused:
        validator.refuse(slave_var, None, f"une valeur pour chaque valeur de {master_var}", entry, "valeur manquante")

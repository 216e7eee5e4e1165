"""Validation of the update variables: when updates run on their own (conteneurs_mise_a_jour_*) and how each
container takes a new image (conteneurN_mise_a_jour_*)."""

from __future__ import annotations

from eole_conteneurs.config.backup import FREQUENCIES, TIME_EXPECTED, checked_time
from eole_conteneurs.config.model import DEFAULT_UPDATE_DELAY, UpdatePolicy, UpdateSettings, variable
from eole_conteneurs.config.validator import Validator

FREQUENCY_VAR, TIME_VAR = "conteneurs_mise_a_jour_auto", "conteneurs_mise_a_jour_heure"
DELAY_MAX = 3600
AUTOMATIC = "automatique"  # the default: oui, unless the container is persistent


def policy(validator: Validator) -> UpdatePolicy:
    frequency = validator.scalar(FREQUENCY_VAR) or "non"
    if frequency not in FREQUENCIES:
        validator.refuse(FREQUENCY_VAR, frequency, "non, quotidienne ou hebdomadaire")
        frequency = "non"
    time = validator.checked(TIME_VAR, checked_time, TIME_EXPECTED) or UpdatePolicy.time
    return UpdatePolicy(frequency, time)


def container(validator: Validator, index: int) -> UpdateSettings:
    consent_var, delay_var = variable(index, "mise_a_jour_auto"), variable(index, "mise_a_jour_delai")
    consent = validator.scalar(consent_var)
    if consent not in (None, "", AUTOMATIC, "oui", "non"):
        validator.refuse(consent_var, str(consent), "automatique (oui, sauf pour un conteneur persistant), oui ou non")
        consent = None
    delay = validator.scalar(delay_var)
    if delay is None or delay == "":
        delay = DEFAULT_UPDATE_DELAY
    elif not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= DELAY_MAX:
        validator.refuse(delay_var, str(delay), f"un nombre de secondes de 0 à {DELAY_MAX}")
        delay = DEFAULT_UPDATE_DELAY
    return UpdateSettings(None if consent in (None, "", AUTOMATIC) else consent == "oui", delay)

"""Validation of what real services need: environment, secrets, data volumes, private networks,
dependencies, health, command and memory (the rules of config/validation.py's contract, continued)."""

from __future__ import annotations

import re
from typing import Sequence

from eole_conteneurs.config import paths
from eole_conteneurs.config.model import ContainerSpec, DataVolume, Health, Secret, variable
from eole_conteneurs.config.validator import Validator, require_pair

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ENV_NAME_EXPECTED = "un nom de variable d'environnement (lettres, chiffres, « _ », sans chiffre au début)"
ENV_VALUE_EXPECTED = "un texte sur une ligne (ni saut de ligne ni caractère nul)"
# The secret becomes a file name under /run/secrets: no "/", no "..", nothing a shell would mangle.
SECRET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SECRET_NAME_EXPECTED = ("un nom de fichier de 1 à 64 caractères (lettres, chiffres, « . », « _ », « - »), "
                        "sans « / » ni « .. »")
SECRET_VALUE_EXPECTED = "un secret non vide, sans caractère nul"
# Docker's own rules for volume and network names.
VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{1,127}")
VOLUME_NAME_EXPECTED = "un nom de volume de 2 à 128 caractères (lettres, chiffres, « . », « _ », « - »), sans « .. »"
NETWORK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
NETWORK_NAME_EXPECTED = ("un nom de réseau de 1 à 63 caractères (lettres, chiffres, « . », « _ », « - »), "
                         "autre que host, bridge et none")
DOCKER_NETWORKS = ("host", "bridge", "none")  # Docker's own: joining one is not a private network
ONE_LINE_EXPECTED = "une commande sur une ligne (ni saut de ligne ni caractère nul)"
COMMAND_EXPECTED = "une commande et ses arguments, les guillemets équilibrés (ex. : mariadbd --port=3306)"
MEMORY = re.compile(r"([0-9]+(?:[.,][0-9]+)?)\s*([kKmMgGtT]?)[oObB]?")
MEMORY_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
MEMORY_MIN = 6 * 1024**2  # Docker refuses less
MEMORY_MAX = 1024**5  # 1024T: far beyond any host, well within Docker's 64-bit limit
MEMORY_EXPECTED = "une taille comme 512M ou 2G (unités K, M, G, T), de 6M à 1024T"
DEPENDENCY_EXPECTED = "le nom d'un autre conteneur déclaré, sans cycle de dépendances"


def environment(validator: Validator, index: int) -> tuple[tuple[str, str], ...]:
    names_var, values_var = variable(index, "env_nom"), variable(index, "env_valeur")
    declared: dict[str, str] = {}
    for entry, raw_name in enumerate(validator.values.entries(names_var)):
        name = validator.checked(names_var, _env_name, ENV_NAME_EXPECTED, entry)
        value = validator.checked(values_var, _one_line, ENV_VALUE_EXPECTED, entry)
        if raw_name is None and names_var not in validator.values.refused:
            validator.refuse(names_var, None, ENV_NAME_EXPECTED, entry, "valeur manquante")
        if name is None:
            continue
        if name in declared:
            validator.refuse(names_var, name, "un nom différent pour chaque variable d'environnement", entry,
                             "variable déjà déclarée pour ce conteneur")
            continue
        declared[name] = value or ""  # an empty value is a value (NAME=)
    return tuple(declared.items())


def _env_name(value: str) -> str:
    if not ENV_NAME.fullmatch(value):
        raise ValueError("nom de variable invalide")
    return value


def health(validator: Validator, index: int) -> Health:
    command = validator.checked(variable(index, "sante_commande"), _one_line, ONE_LINE_EXPECTED) or ""
    return Health(command, validator.scalar(variable(index, "sante_delai")) or Health.wait)


def dependencies(validator: Validator, index: int) -> tuple[str, ...]:
    """As declared; checked once every container is known (check_dependencies)."""
    return tuple(dict.fromkeys(entry for entry in validator.values.entries(variable(index, "dependance"))
                               if entry is not None))


def _one_line(value: str) -> str:
    if any(char in value for char in "\n\r\0"):
        raise ValueError("saut de ligne ou caractère nul")
    return value


def secrets(validator: Validator, index: int, mounts: dict[str, str]) -> tuple[Secret, ...]:
    """mounts: container paths already taken, with the variable taking them; each secret takes its file's."""
    names_var, values_var = variable(index, "secret_nom"), variable(index, "secret_valeur")
    declared: dict[str, Secret] = {}
    for entry, raw_name in enumerate(validator.values.entries(names_var)):
        name = validator.checked(names_var, _secret_name, SECRET_NAME_EXPECTED, entry)
        value = validator.checked(values_var, _secret_value, SECRET_VALUE_EXPECTED, entry, secret=True)
        require_pair(validator, names_var, raw_name, values_var, entry)
        if name is None or value is None:
            continue
        secret = Secret(name, value)
        if name in declared:
            validator.refuse(names_var, name, "un nom différent pour chaque secret", entry,
                             "secret déjà déclaré pour ce conteneur")
        elif secret.container_path in mounts:
            validator.refuse(names_var, name, "un secret dont le fichier n'est pas déjà un montage", entry,
                             f"{secret.container_path} déjà monté par {mounts[secret.container_path]}")
        else:
            mounts[secret.container_path] = names_var
            declared[name] = secret
    return tuple(declared.values())


def _secret_name(value: str) -> str:
    if not SECRET_NAME.fullmatch(value) or ".." in value:
        raise ValueError("nom de secret invalide")
    return value


def _secret_value(value: str) -> str:
    if "\0" in value:
        raise ValueError("caractère nul")
    return value


def data_volumes(validator: Validator, index: int, mounts: dict[str, str]) -> tuple[DataVolume, ...]:
    """mounts: container paths already taken (by shared directories), with the variable taking them."""
    names_var, paths_var = variable(index, "volume_nom"), variable(index, "volume_chemin")
    volumes = []
    for entry, raw_name in enumerate(validator.values.entries(names_var)):
        name = validator.checked(names_var, _volume_name, VOLUME_NAME_EXPECTED, entry)
        path = validator.checked(paths_var, paths.safe_container_dir, paths.CONTAINER_EXPECTED, entry)
        require_pair(validator, names_var, raw_name, paths_var, entry)
        if path is not None and path in mounts:
            validator.refuse(paths_var, path, "un répertoire de conteneur différent pour chaque montage", entry,
                             f"répertoire déjà monté par {mounts[path]}")
        elif name is not None and path is not None:
            mounts[path] = paths_var
            volumes.append(DataVolume(name, path))
    return tuple(volumes)


def _volume_name(value: str) -> str:
    if not VOLUME_NAME.fullmatch(value) or ".." in value:
        raise ValueError("nom de volume invalide")
    return value


def private_networks(validator: Validator, index: int) -> tuple[str, ...]:
    var = variable(index, "reseau_prive")
    networks = (validator.checked(var, _network_name, NETWORK_NAME_EXPECTED, entry)
                for entry in range(len(validator.values.entries(var))))
    return tuple(dict.fromkeys(network for network in networks if network is not None))


def _network_name(value: str) -> str:
    if value.lower() in DOCKER_NETWORKS:
        raise ValueError(f"réseau « {value} » de Docker : pas un réseau privé")
    if not NETWORK_NAME.fullmatch(value):
        raise ValueError("nom de réseau invalide")
    return value


def command(value: str) -> tuple[str, ...]:
    import shlex  # only when a command is declared

    _one_line(value)
    try:
        words = tuple(shlex.split(value))
    except ValueError:
        raise ValueError("guillemet non fermé") from None
    if words and not words[0]:
        raise ValueError("programme vide")
    return words


def memory(value: str) -> int:
    match = MEMORY.fullmatch(value.strip())
    if not match:
        raise ValueError("taille invalide")
    from decimal import Decimal  # only when a memory limit is declared

    # Decimal, not float: exact, and a huge literal stays a number that is simply too large.
    size = int(Decimal(match[1].replace(",", ".")) * MEMORY_UNITS[match[2].lower()])
    if size > MEMORY_MAX:
        raise ValueError("taille trop grande")
    if size < MEMORY_MIN:
        raise ValueError("taille trop petite")
    return size


SHARED_EXPECTED = "un nom utilisé par des conteneurs d'une seule technologie"


def check_one_technology(validator: Validator, specs: Sequence[ContainerSpec]) -> None:
    """A private network or a data volume belongs to one engine: Docker's and Podman's are apart,
    so a name shared by containers of both would make two that do not meet."""
    for kind, var_suffix, names_of in (("réseau privé", "reseau_prive", lambda spec: spec.private_networks),
                                       ("volume", "volume_nom", lambda spec: [v.name for v in spec.data_volumes])):
        first: dict[str, ContainerSpec] = {}
        for spec in specs:
            for name in names_of(spec):
                other = first.setdefault(name, spec)
                if other.technology != spec.technology:
                    validator.refuse(variable(spec.index, var_suffix), name, SHARED_EXPECTED, None,
                                     f"{kind} « {name} » aussi utilisé par « {other.name} » ({other.technology}), "
                                     f"alors que « {spec.name} » est sous {spec.technology}")


def check_dependencies(validator: Validator, count: int) -> None:
    """Each dependency names another declared container, and following them never comes back."""
    graph: dict[str, list[str]] = {}
    variables: dict[str, str] = {}
    for index in range(1, count + 1):
        var = variable(index, "dependance")
        name = validator.scalar(variable(index, "nom"))
        if not validator.values.is_enabled(var) or validator.names.get(name) != variable(index, "nom"):
            continue
        graph[name], variables[name] = [], var
        for entry, target in enumerate(validator.values.entries(var)):
            if target is None:
                continue
            if target == name:
                validator.refuse(var, target, DEPENDENCY_EXPECTED, entry, "un conteneur ne peut dépendre de lui-même")
            elif target not in validator.names:
                validator.refuse(var, target, DEPENDENCY_EXPECTED, entry, "conteneur inconnu")
            else:
                graph[name].append(target)
    cycle = find_cycle(graph)
    if cycle:
        validator.refuse(variables[cycle[0]], cycle[1], DEPENDENCY_EXPECTED,
                         reason="cycle de dépendances : " + " → ".join(cycle))


def find_cycle(graph: dict[str, list[str]]) -> list[str]:
    """One cycle of the graph as a path a → … → a, [] when there is none (iterative depth-first search)."""
    done: set[str] = set()
    for root in graph:
        if root in done:
            continue
        path, on_path = [root], {root}
        stack = [iter(graph.get(root, ()))]
        while stack:
            following = next(stack[-1], None)
            if following is None:
                stack.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                continue
            if following in on_path:
                return path[path.index(following):] + [following]
            if following not in done:
                path.append(following)
                on_path.add(following)
                stack.append(iter(graph.get(following, ())))
    return []

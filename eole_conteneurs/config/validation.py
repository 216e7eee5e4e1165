"""From typed values to validated ContainerSpec objects: the rules of the module's contract.

Every problem is collected (never only the first) as an InvalidValue naming the
variable, the entry of a multi, the value and what is accepted.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat

from eole_conteneurs.config import paths
from eole_conteneurs.errors import InvalidValue
from eole_conteneurs.config import backup, services, updates
from eole_conteneurs.config.model import (DEFAULT_PIDS_LIMIT, DOCKER_HUB, SET_ASIDE_SUFFIX, Configuration,
                                          ContainerSpec, ImageRef, PortMapping, VolumeMapping, variable)
from eole_conteneurs.config.validator import Validator, require_pair
from eole_conteneurs.creole.values import Values

NAME = re.compile(r"[a-z0-9][a-z0-9_.-]+")  # Docker wants two characters at least
NAME_MAX = 63
NAME_EXPECTED = ("un nom de 2 à 63 caractères : minuscules, chiffres, « . », « _ », « - », "
                 "commençant par une minuscule ou un chiffre")
# Docker's reference grammar: path components separated by "/".
REPO_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
REPO_EXPECTED = ("un dépôt comme « httpd » ou « bibliotheque/application » (minuscules, chiffres, "
                 "séparateurs « . », « _ », « - », « / »), sans registre ni tag")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST = re.compile(r"@?(sha256:[0-9a-f]{64})")  # a pinned image: Docker's own digest form
TAG_EXPECTED = ("un tag de 1 à 128 caractères (lettres, chiffres, « _ », « . », « - »), vide pour latest, "
                "ou une empreinte @sha256:<64 caractères hexadécimaux> (image épinglée)")
HOSTNAME_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
HUB_EXPECTED = "hôte[:port] d'un registre (ex. registre.ac-test.fr ou 127.0.0.1:5000), vide pour le Hub Docker"
DOCKER_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "hub.docker.com"}
NGINX_PORTS = (80, 443)
DEFAULT_TAG = "latest"


WEB_PATH = re.compile(r"(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+")
WEB_PATH_EXPECTED = ("un chemin web comme /application ou /applis/wiki (lettres, chiffres, « . », « _ », « - », "
                     "« / »), autre que /, vide pour /nom du conteneur")


NGINX_FILE = re.compile(r"/[A-Za-z0-9._/-]*[A-Za-z0-9._-]")
NGINX_FILE_EXPECTED = "un chemin absolu de fichier (lettres, chiffres, « . », « _ », « - », « / »)"
# Where certificates live: Debian's and EOLE's (/etc/ssl/certs, /etc/ssl/private), certbot's
# (/etc/letsencrypt/live, archive) and the module's own. nginx's master reads them as root.
CERTIFICATE_ROOTS = ("/etc/ssl", "/etc/letsencrypt", "/etc/eole-conteneurs/ssl")
CERTIFICATE_EXPECTED = ("un fichier sous /etc/ssl/ (par exemple certs/, private/), /etc/letsencrypt/ (live/) ou "
                        "/etc/eole-conteneurs/ssl/, qui y reste une fois les liens suivis (lettres, chiffres, "
                        "« . », « _ », « - », « / », sans « .. »)")
KEY_GROUP = "ssl-cert"  # Debian's: /etc/ssl/private is root:ssl-cert 0710, its keys root:ssl-cert 0640
KEY_EXPECTED = "une clé lisible par root seul (chmod 600) ou aussi par le groupe ssl-cert (chmod 640, chgrp ssl-cert)"


class CertificateFileRefused(ValueError):
    """A certificate or key nginx's master must not read: the variable, why, and what is accepted."""

    def __init__(self, variable: str, reason: str, expected: str = CERTIFICATE_EXPECTED):
        super().__init__(reason)
        self.variable, self.reason, self.expected = variable, reason, expected


def build_configuration(values: Values, problems: list[InvalidValue]) -> tuple[Configuration, list[InvalidValue]]:
    """Validate every enabled container; returns the configuration and all problems found."""
    validator = Validator(values, list(problems))
    enabled = values.get("activer_conteneurs") == "oui"
    containers = []
    _certificate_pair(validator)
    if enabled:
        count = int(validator.scalar("nombre_conteneurs") or 0)
        with paths.stats_remembered():  # the shared directories' common parents looked at once
            for index in range(1, count + 1):
                if not values.is_enabled(variable(index, "nom")):
                    continue
                spec = _container(validator, index)
                if spec is not None:
                    containers.append(spec)
        services.check_dependencies(validator, count)
        services.check_one_technology(validator, containers)
        policy = backup.policy(validator, [directory for spec in containers for directory in backup.host_dirs(spec.volumes)])
        return (Configuration(values.source, enabled, tuple(containers), backup=policy,
                              updates=updates.policy(validator)), validator.problems)
    return Configuration(values.source, enabled, tuple(containers)), validator.problems


def _certificate_pair(validator: Validator) -> None:
    """Both given, or neither (EOLE's pair, or the module's own): half a pair cannot serve HTTPS."""
    pair = ("conteneurs_certificat", "conteneurs_cle")
    given = {name: _certificate_file(validator, name) for name in pair if validator.values.is_enabled(name)}
    for name, other in (pair, pair[::-1]):
        if given.get(other) is not None and validator.values.get(name) is None and name not in validator.values.refused:
            validator.refuse(name, None, CERTIFICATE_EXPECTED, reason=f"valeur manquante alors que {other} est donné")


def _certificate_file(validator: Validator, name: str) -> str | None:
    value = validator.scalar(name)
    if value is None:
        return None
    try:
        return check_certificate_file(name, value, key=name == "conteneurs_cle")
    except CertificateFileRefused as refused:
        validator.refuse(name, value, refused.expected, reason=refused.reason)
        return None


def check_certificate_file(variable: str, value: str, key: bool, must_exist: bool = False) -> str:
    """A certificate (key: its private key) nginx may read: inside CERTIFICATE_ROOTS, also once links are
    resolved; a regular file when it exists (must_exist: at publication); a key readable by root (and by
    the ssl-cert group) only. Raises CertificateFileRefused naming the variable."""
    try:
        _check_nginx_file(value)
    except ValueError as error:
        raise CertificateFileRefused(variable, str(error)) from None
    if not any(value.startswith(root + "/") for root in CERTIFICATE_ROOTS):
        raise CertificateFileRefused(variable, "emplacement refusé pour un certificat ou une clé")
    resolved = os.path.realpath(value)
    if not any(resolved.startswith(os.path.realpath(root) + "/") for root in CERTIFICATE_ROOTS):
        raise CertificateFileRefused(variable, f"lien vers {resolved}, hors des emplacements des certificats")
    try:
        status = os.stat(resolved)
    except FileNotFoundError:
        if must_exist:
            raise CertificateFileRefused(variable, "fichier absent (vide : certificat d'EOLE ou du module)") from None
        return value
    except OSError as error:
        raise CertificateFileRefused(variable, f"fichier illisible ({error.strerror})") from None
    if not stat.S_ISREG(status.st_mode):
        raise CertificateFileRefused(variable, "pas un fichier ordinaire")
    mode = stat.S_IMODE(status.st_mode)
    readers = "tous" if mode & 0o004 else f"le groupe {_group_name(status.st_gid)}" if mode & 0o040 else None
    if key and readers is not None and readers != f"le groupe {KEY_GROUP}":
        raise CertificateFileRefused(variable, f"clé privée lisible par {readers} (mode {mode:04o}) : "
                                               f"la protéger avec « chmod 600 {resolved} »", KEY_EXPECTED)
    return value


def _group_name(gid: int) -> str:
    import grp  # only for a group-readable key

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _container(validator: Validator, index: int) -> ContainerSpec | None:
    before = len(validator.problems)
    name = _name(validator, index)
    image = _image(validator, index)
    volumes = _volumes(validator, index)
    ports = _ports(validator, index)
    web_path = _web_path(validator, index, name)
    networks = _allowed_networks(validator, index)
    technology = validator.scalar(variable(index, "technologie"))
    persistent = validator.scalar(variable(index, "persistance")) == "oui"
    published = validator.scalar(variable(index, "publication")) != "non"
    mounts = {volume.container_dir: variable(index, "rep_conteneur") for volume in volumes}
    environment = services.environment(validator, index)
    secrets = services.secrets(validator, index, mounts)
    data_volumes = services.data_volumes(validator, index, mounts)
    private_networks = services.private_networks(validator, index)
    dependencies = services.dependencies(validator, index)
    health = services.health(validator, index)
    command = validator.checked(variable(index, "commande"), services.command, services.COMMAND_EXPECTED) or ()
    memory = validator.checked(variable(index, "memoire"), services.memory, services.MEMORY_EXPECTED)
    pids_limit = validator.scalar(variable(index, "processus_max")) or DEFAULT_PIDS_LIMIT
    capabilities = tuple(dict.fromkeys(entry for entry in validator.values.entries(variable(index, "capacites"))
                                       if entry is not None))
    saving = backup.container(validator, index)
    update = updates.container(validator, index)
    if len(validator.problems) > before or name is None or image is None:
        return None
    return ContainerSpec(index, name, technology, image, volumes, ports, persistent, web_path, networks,
                         environment, secrets, data_volumes, private_networks, dependencies, health, command, memory,
                         published, pids_limit, capabilities, saving, update)


def _name(validator: Validator, index: int) -> str | None:
    var = variable(index, "nom")
    name: str | None = validator.checked(var, _check_name, NAME_EXPECTED)
    if name is None:
        return None
    if name in validator.names:
        validator.refuse(var, name, "un nom différent pour chaque conteneur",
                         reason=f"nom déjà utilisé par {validator.names[name]}")
        return None
    validator.names[name] = var
    return name


def _check_name(value: str) -> str:
    if len(value) > NAME_MAX:
        raise ValueError(f"nom trop long ({len(value)} caractères)")
    if not NAME.fullmatch(value):
        raise ValueError("nom invalide")
    if SET_ASIDE_SUFFIX + "-" in value:
        raise ValueError(f"« {SET_ASIDE_SUFFIX}- » est réservé aux conteneurs mis de côté pendant une recréation")
    return value


def _image(validator: Validator, index: int) -> ImageRef | None:
    hub = validator.checked(variable(index, "hub"), normalise_hub, HUB_EXPECTED)
    hub_refused = validator.scalar(variable(index, "hub")) is not None and hub is None
    hub = hub or DOCKER_HUB
    repository = validator.checked(variable(index, "depot"), lambda v: _check_repository(v, hub), REPO_EXPECTED)
    tag = validator.checked(variable(index, "tag"), _check_tag, TAG_EXPECTED)
    tag_refused = validator.scalar(variable(index, "tag")) is not None and tag is None
    if repository is None or tag_refused or hub_refused:
        return None
    return ImageRef(hub, repository, tag or DEFAULT_TAG)


def normalise_hub(value: str) -> str:
    """'https://registre.fr/' -> 'registre.fr'; Docker Hub's own names -> '' (the default)."""
    text = re.sub(r"^https?://", "", value.strip()).rstrip("/")
    if text.lower() in DOCKER_HUB_ALIASES:
        return DOCKER_HUB
    host, _, port = text.rpartition(":") if re.search(r":[0-9]*$", text) else (text, "", "")
    if _ and not (re.fullmatch(r"[0-9]{1,5}", port) and 1 <= int(port) <= 65535):
        raise ValueError("port du registre invalide")
    if not _is_host(host):
        raise ValueError("adresse de registre invalide")
    return text.lower()


def _is_host(host: str) -> bool:
    if host.startswith("[") and host.endswith("]"):
        return re.fullmatch(r"[0-9A-Fa-f:.]+", host[1:-1]) is not None
    labels = host.split(".")
    return 0 < len(host) <= 253 and all(HOSTNAME_LABEL.fullmatch(label) for label in labels)


def _check_repository(value: str, hub: str) -> str:
    if ":" in value or "@" in value:
        raise ValueError("le tag se saisit dans la variable « tag », le registre dans « hub »")
    components = value.split("/")
    if len(value) > 255 or not all(REPO_COMPONENT.fullmatch(part) for part in components):
        raise ValueError("nom de dépôt invalide")
    first = components[0]
    if not hub and len(components) > 1 and ("." in first or first == "localhost"):
        raise ValueError(f"« {first} » ressemble à un registre : le saisir dans la variable « hub »")
    return value


def _check_tag(value: str) -> str:
    pinned = DIGEST.fullmatch(value)
    if pinned:
        return pinned[1]
    if value.startswith(("sha256:", "@")):
        raise ValueError("empreinte invalide")
    if not TAG.fullmatch(value):
        raise ValueError("tag invalide")
    return value


def _volumes(validator: Validator, index: int) -> tuple[VolumeMapping, ...]:
    hosts_var, targets_var = variable(index, "rep_hote"), variable(index, "rep_conteneur")
    volumes, targets = [], set()
    for entry, raw_host in enumerate(validator.values.entries(hosts_var)):
        host = validator.checked(hosts_var, paths.safe_host_dir, paths.HOST_EXPECTED, entry)
        target = validator.checked(targets_var, paths.safe_container_dir, paths.CONTAINER_EXPECTED, entry)
        require_pair(validator, hosts_var, raw_host, targets_var, entry)
        if target is not None and target in targets:
            validator.refuse(targets_var, target, "un répertoire de conteneur différent pour chaque partage",
                             entry, "répertoire déjà monté dans ce conteneur")
        elif host is not None and target is not None:
            targets.add(target)
            volumes.append(VolumeMapping(host, target))
    return tuple(volumes)


def _ports(validator: Validator, index: int) -> tuple[PortMapping, ...]:
    container_var, host_var = variable(index, "port_conteneur"), variable(index, "port_hote")
    ports = []
    for entry, container_port in enumerate(validator.values.entries(container_var)):
        host_port = validator.values.entries(host_var)[entry]
        require_pair(validator, container_var, container_port, host_var, entry)
        if host_var in validator.values.refused or host_port is None:
            continue
        if host_port in NGINX_PORTS:
            validator.refuse(host_var, host_port, "un port de l'hôte autre que 80 et 443", entry,
                             "port réservé au serveur web")
        elif host_port in validator.host_ports:
            validator.refuse(host_var, host_port, "un port de l'hôte différent pour chaque port publié", entry,
                             f"port déjà utilisé par {validator.host_ports[host_port]}")
        else:
            validator.host_ports[host_port] = f"{host_var} (valeur n°{entry + 1})"
            if container_port is not None and container_var not in validator.values.refused:
                ports.append(PortMapping(container_port, host_port))
    return tuple(ports)


def _web_path(validator: Validator, index: int, name: str | None) -> str:
    var = variable(index, "chemin")
    given = validator.scalar(var)
    path: str | None = validator.checked(var, _check_web_path, WEB_PATH_EXPECTED) if given is not None else (
        f"/{name}" if name else None)
    if path is None:
        return ""
    owner = validator.web_paths.get(path)
    # Without conteneurN_chemin the path comes from the name: that is what to change.
    named = var if given is not None else variable(index, "nom")
    if owner is not None:
        validator.refuse(named, given or name, "un chemin web différent pour chaque conteneur",
                         reason=f"chemin {path} déjà utilisé par {owner}")
        return ""
    validator.web_paths[path] = named
    return path


def _check_nginx_file(value: str) -> str:
    if not NGINX_FILE.fullmatch(value) or "/../" in value + "/" or "/./" in value + "/":
        raise ValueError("chemin de fichier invalide")
    return value


def _check_web_path(value: str) -> str:
    path = value.rstrip("/")
    if not WEB_PATH.fullmatch(path):
        raise ValueError("chemin web invalide")
    return path


def _allowed_networks(validator: Validator, index: int) -> tuple[str, ...]:
    """nginx `allow` takes CIDR: the address must be the network's own (no host bits)."""
    networks_var, masks_var = variable(index, "reseau_autorise"), variable(index, "masque_autorise")
    allowed = []
    for entry, address in enumerate(validator.values.entries(networks_var)):
        require_pair(validator, networks_var, address, masks_var, entry)
        mask = validator.values.entries(masks_var)[entry]
        if address is None or mask is None or {networks_var, masks_var} & validator.values.refused:
            continue
        network = ipaddress.IPv4Network(f"{address}/{mask}", strict=False)
        if str(network.network_address) != address:
            validator.refuse(networks_var, address, f"l'adresse du réseau, ici {network.network_address}", entry,
                             f"adresse incohérente avec le masque {mask}")
            continue
        allowed.append(str(network))
    return tuple(allowed)

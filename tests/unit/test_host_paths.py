"""Shared host directories: the forbidden trees, the directories on the way, and the check again
just before a container is created or started (issue 14, items 3 and 4)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace

import pytest

from eole_conteneurs.config.loading import load_configuration
from eole_conteneurs.config.model import VolumeMapping
from eole_conteneurs.config.paths import safe_host_dir, usable_host_dir, writable_ancestor
from eole_conteneurs.containers.hostdirs import HostDirRefused, check_bound_dirs, resolved_host_dirs
from eole_conteneurs.containers.labels import create_request
from eole_conteneurs.engine.api import ObservedContainer, ObservedMount
from eole_conteneurs.errors import InvalidConfiguration

from tests.unit.conftest import SCOPE, apache

USER = 1000  # any uid but root's


def shared(host: str) -> dict:
    return {"activer_conteneurs": "oui", "nombre_conteneurs": "1", "conteneur1_nom": "service",
            "conteneur1_depot": "httpd", "conteneur1_rep_hote": [host], "conteneur1_rep_conteneur": {"0": "/data"}}


@pytest.mark.parametrize("host", [
    "/var/log/nginx", "/var/log/nginx/x", "/var/log/apache2", "/var/tmp", "/var/lib/polkit-1",
    "/var/lib/samba/private", "/var/mail", "/var/mail/eleve", "/snap", "/snap/x",
    "/var/cache/eole-conteneurs", "/var/cache/eole-conteneurs/x", "/var/lib/eole-conteneurs/secrets",
    "/\u0435tc", "/srv/donn\u00e9es", "/srv/\u0430",
])
def test_system_module_and_non_ascii_directories_are_refused(write_config, dicos, host):
    with pytest.raises(InvalidConfiguration) as caught:
        load_configuration(write_config(shared(host)), dicos)
    assert [(problem.variable, problem.index) for problem in caught.value.problems] == [("conteneur1_rep_hote", 0)]


def test_a_root_owned_subdirectory_of_var_tmp_stays_allowed():
    link_free = "/var/tmp/" + f"eole-conteneurs-test-{os.getpid()}"
    os.mkdir(link_free)
    try:
        assert safe_host_dir(link_free) == link_free
    finally:
        os.rmdir(link_free)


def user_owned(path, mode=0o755):
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, USER, USER)
    path.chmod(mode)
    return path


def test_a_directory_under_a_users_home_is_refused(tmp_path):
    home = user_owned(tmp_path / "home" / "eleve")
    with pytest.raises(ValueError, match="uid 1000") as caught:
        safe_host_dir(str(home / "donnees"))
    assert str(home) in str(caught.value)


def test_a_group_writable_parent_is_refused_unless_the_group_is_root(tmp_path):
    parent = tmp_path / "partage"
    parent.mkdir()
    parent.chmod(0o775)
    os.chown(parent, 0, USER)
    with pytest.raises(ValueError, match="autre utilisateur que root"):
        safe_host_dir(str(parent / "donnees"))
    os.chown(parent, 0, 0)
    assert safe_host_dir(str(parent / "donnees")) == str(parent / "donnees")


def test_sticky_world_writable_parent_needs_an_entry_owned_by_root(tmp_path):
    sticky = tmp_path / "commun"
    sticky.mkdir()
    sticky.chmod(0o1777)
    (sticky / "root").mkdir()
    assert writable_ancestor(str(sticky / "root" / "data")) is None
    user_owned(sticky / "user")
    assert writable_ancestor(str(sticky / "user" / "data")) is not None
    # Missing: anyone could create it first (as a link).
    assert writable_ancestor(str(sticky / "absent")) is not None


def test_a_link_through_a_users_directory_is_refused(tmp_path):
    target = user_owned(tmp_path / "u") / "cible"
    target.mkdir()
    os.symlink(target, tmp_path / "lien")
    with pytest.raises(ValueError, match="autre utilisateur"):
        safe_host_dir(str(tmp_path / "lien"))


def test_the_resolved_directory_is_what_gets_bound(tmp_path):
    (tmp_path / "vrai").mkdir()
    os.symlink(tmp_path / "vrai", tmp_path / "lien")
    spec = apache(volumes=(VolumeMapping(str(tmp_path / "lien"), "/data"),))
    host_dirs = resolved_host_dirs(spec, lambda step: None)
    assert host_dirs == {str(tmp_path / "lien"): str(tmp_path / "vrai")}
    request = create_request(spec, SCOPE, host_dirs=host_dirs)
    assert [bind.host_dir for bind in request.binds] == [str(tmp_path / "vrai")]
    assert str(tmp_path / "lien") in request.labels["fr.eole.conteneurs.spec"]  # the declaration, unchanged


def test_a_directory_swapped_for_a_link_after_validation_is_refused_before_creation(tmp_path):
    data = tmp_path / "donnees"
    spec = apache(volumes=(VolumeMapping(str(data), "/data"),))
    assert safe_host_dir(str(data)) == str(data)  # what validation saw (missing: to be created)
    os.symlink("/etc", data)
    with pytest.raises(HostDirRefused) as caught:
        resolved_host_dirs(spec, lambda step: None)
    assert caught.value.variable == "conteneur2_rep_hote"
    assert "/etc" in str(caught.value)
    assert os.path.islink(data)  # nothing created through it


def test_missing_directories_are_created_where_the_path_resolves(tmp_path):
    steps: list[str] = []
    spec = apache(volumes=(VolumeMapping(str(tmp_path / "a" / "b"), "/data"),))
    resolved_host_dirs(spec, steps.append)
    assert (tmp_path / "a" / "b").is_dir() and steps == [f"Création du répertoire de l'hôte {tmp_path}/a/b"]


def test_an_existing_container_is_not_started_when_its_bind_now_leads_to_etc(tmp_path):
    data = tmp_path / "donnees"
    data.mkdir()
    spec = apache(volumes=(VolumeMapping(str(data), "/data"),))
    container = ObservedContainer(id="c" * 64, name=spec.name, image_id="i", state="exited",
                                  mounts=(ObservedMount("bind", "", str(data), "/data"),))
    check_bound_dirs(spec, container)
    data.rmdir()
    os.symlink("/etc", data)
    with pytest.raises(HostDirRefused, match="conteneur2_rep_hote"):
        check_bound_dirs(spec, container)
    # Declared no more (a persistent container waiting for --recreer): still checked before it starts.
    with pytest.raises(HostDirRefused, match="ancien partage de conteneur2_rep_hote"):
        check_bound_dirs(replace(spec, volumes=()), container)
    # The module's secret files are not shared directories.
    secret = ObservedMount("bind", "", "/var/lib/eole-conteneurs/secrets/x/1/mdp", "/run/secrets/mdp")
    check_bound_dirs(spec, replace(container, mounts=(secret,)))


def test_usable_host_dir_of_a_plain_directory_is_itself(tmp_path):
    assert usable_host_dir(str(tmp_path)) == str(tmp_path)


def test_a_directory_a_user_may_write_through_an_acl_is_refused(tmp_path):
    """The mode shows the ACL's mask as group bits, with group root: the named user is found in the ACL."""
    parent = tmp_path / "acl"
    parent.mkdir()
    subprocess.run(["setfacl", "-m", f"u:{USER}:rwx", str(parent)], check=True)
    with pytest.raises(ValueError, match="autre utilisateur que root"):
        safe_host_dir(str(parent / "donnees"))
    subprocess.run(["setfacl", "-b", str(parent)], check=True)
    parent.chmod(0o775)  # group root may write: that is root
    assert safe_host_dir(str(parent / "donnees")) == str(parent / "donnees")


@pytest.mark.parametrize("host", ["/var/lib/samba/sysvol", "/var/lib/sss/db", "/var/lib/containers/storage",
                                  "/var/log/samba", "/var/spool/postfix", "/var/lib/libvirt/images"])
def test_more_system_trees_are_refused(host):
    with pytest.raises(ValueError, match="répertoire système"):
        safe_host_dir(host)

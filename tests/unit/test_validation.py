"""Every validation rule, with bad values: each asserts the exact variable the message names."""

from __future__ import annotations

import os

import pytest

from eole_conteneurs.config.loading import load_configuration
from eole_conteneurs.errors import InvalidConfiguration


def refuse(write_config, dicos, values):
    with pytest.raises(InvalidConfiguration) as caught:
        load_configuration(write_config(values), dicos)
    return caught.value


def one_container(**overrides):
    values = {
        "activer_conteneurs": "oui",
        "nombre_conteneurs": "1",
        "conteneur1_nom": "service",
        "conteneur1_depot": "httpd",
    }
    values.update(overrides)
    return values


def assert_only(error, variable, index=None, value_shown=None):
    assert [(p.variable, p.index) for p in error.problems] == [(variable, index)], error.summary()
    message = str(error.problems[0])
    assert message.startswith(variable)
    assert "attendu" in message
    if index is not None:
        assert f"valeur n°{index + 1}" in message
    if value_shown is not None:
        assert value_shown in message


@pytest.mark.parametrize("name", [
    "a;b", "a{b", "a}b", "a b", "a\nb", "a$b", "a'b", 'a"b', "MonService", "-start", ".start", "_start",
    "x" * 64, "é", "a/b", "a:b", "a",
])
def test_bad_names_are_refused(write_config, dicos, name):
    error = refuse(write_config, dicos, one_container(conteneur1_nom=name))
    assert_only(error, "conteneur1_nom")


def test_newline_is_shown_escaped_on_one_line(write_config, dicos):
    error = refuse(write_config, dicos, one_container(conteneur1_nom="a\nb"))
    assert "\n" not in str(error.problems[0])
    assert "a\\nb" in str(error.problems[0])


@pytest.mark.parametrize("name", ["ab", "my-apache-app", "web_1.test", "0abc", "x" * 63])
def test_good_names_are_accepted(write_config, dicos, name):
    configuration = load_configuration(write_config(one_container(conteneur1_nom=name)), dicos)
    assert configuration.containers[0].name == name


def test_missing_name_is_refused(write_config, dicos):
    values = one_container()
    del values["conteneur1_nom"]
    error = refuse(write_config, dicos, values)
    assert_only(error, "conteneur1_nom")
    assert "manquante" in str(error.problems[0])


def test_missing_repository_is_refused(write_config, dicos):
    error = refuse(write_config, dicos, one_container(conteneur1_depot=""))
    assert_only(error, "conteneur1_depot")


def test_duplicate_names_are_refused(write_config, dicos):
    values = one_container(nombre_conteneurs="2", conteneur2_nom="service", conteneur2_depot="httpd")
    error = refuse(write_config, dicos, values)
    assert_only(error, "conteneur2_nom")
    assert "conteneur1_nom" in str(error.problems[0])


def test_unknown_technology_is_refused(write_config, dicos):
    error = refuse(write_config, dicos, one_container(conteneur1_technologie="lxc"))
    assert_only(error, "conteneur1_technologie", value_shown="lxc")
    assert "docker" in str(error.problems[0])


@pytest.mark.parametrize("hub", ["reg istry", "registre.fr/chemin", "registre.fr:0", "registre.fr:99999", "registre.fr:",
                                 "-registre.fr", "a;b", "http://", "registre.fr:80a"])
def test_bad_hubs_are_refused(write_config, dicos, hub):
    assert_only(refuse(write_config, dicos, one_container(conteneur1_hub=hub)), "conteneur1_hub")


@pytest.mark.parametrize("hub, expected", [
    ("127.0.0.1:5000", "127.0.0.1:5000/httpd:latest"),
    ("https://Registre.ac-test.fr/", "registre.ac-test.fr/httpd:latest"),
    ("registre.ac-test.fr:8443", "registre.ac-test.fr:8443/httpd:latest"),
    ("localhost:5000", "localhost:5000/httpd:latest"),
    ("[::1]:5000", "[::1]:5000/httpd:latest"),
    ("docker.io", "httpd:latest"),
    ("", "httpd:latest"),
])
def test_hub_forms_give_image_references(write_config, dicos, hub, expected):
    configuration = load_configuration(write_config(one_container(conteneur1_hub=hub)), dicos)
    assert str(configuration.containers[0].image) == expected


@pytest.mark.parametrize("depot", ["Httpd", "httpd:2.4", "httpd@sha256:00", "a//b", "/httpd", "httpd/",
                                   "ht tpd", "a;b", "registre.fr/httpd"])
def test_bad_repositories_are_refused(write_config, dicos, depot):
    assert_only(refuse(write_config, dicos, one_container(conteneur1_depot=depot)), "conteneur1_depot")


def test_repository_with_namespace_under_a_hub_is_accepted(write_config, dicos):
    values = one_container(conteneur1_hub="127.0.0.1:5000", conteneur1_depot="eole/app-web_2")
    configuration = load_configuration(write_config(values), dicos)
    assert str(configuration.containers[0].image) == "127.0.0.1:5000/eole/app-web_2:latest"


@pytest.mark.parametrize("tag", ["2.4 ", ".hidden", "-x", "a:b", "x" * 129, "é"])
def test_bad_tags_are_refused(write_config, dicos, tag):
    assert_only(refuse(write_config, dicos, one_container(conteneur1_tag=tag)), "conteneur1_tag")


def test_empty_tag_means_latest(write_config, dicos):
    configuration = load_configuration(write_config(one_container(conteneur1_tag="")), dicos)
    assert configuration.containers[0].image.tag == "latest"


def volumes(host, container="/data"):
    return one_container(conteneur1_rep_hote=[host], conteneur1_rep_conteneur={"0": container})


@pytest.mark.parametrize("host", [
    "relative/dir", "data", "/", "/etc", "/etc/", "/etc/ssl", "/var/../etc/", "/srv/../etc", "/proc", "/sys/fs",
    "/dev", "/run", "/var/run/docker.sock", "/run/docker.sock", "/usr", "/boot", "/var/lib/docker/volumes",
    "/var", "/home", "/tmp", "/srv/a b", "/srv/a:b", "/srv/a\nb", "//etc",
    "/var/lib/eole-conteneurs", "/var/lib/eole-conteneurs/nginx-sauvegarde", "/var/spool/cron/crontabs",
    "/var/lib/dpkg",
])
def test_dangerous_or_malformed_host_directories_are_refused(write_config, dicos, host):
    assert_only(refuse(write_config, dicos, volumes(host)), "conteneur1_rep_hote", 0)


def test_symlink_to_etc_is_refused(write_config, dicos, tmp_path):
    link = tmp_path / "vers-etc"
    os.symlink("/etc", link)
    error = refuse(write_config, dicos, volumes(str(link)))
    assert_only(error, "conteneur1_rep_hote", 0)
    assert "/etc" in str(error.problems[0])


def test_symlink_inside_path_to_docker_socket_dir_is_refused(write_config, dicos, tmp_path):
    os.symlink("/run", tmp_path / "r")
    assert_only(refuse(write_config, dicos, volumes(str(tmp_path / "r" / "docker.sock"))), "conteneur1_rep_hote", 0)


def test_existing_file_is_refused_as_host_directory(write_config, dicos, tmp_path):
    target = tmp_path / "fichier"
    target.write_text("x")
    assert_only(refuse(write_config, dicos, volumes(str(target))), "conteneur1_rep_hote", 0)


def test_host_directory_is_normalised(write_config, dicos):
    configuration = load_configuration(write_config(volumes("/var/eole-httpd/", "/usr/local/apache2/htdocs/")), dicos)
    volume = configuration.containers[0].volumes[0]
    assert (volume.host_dir, volume.container_dir) == ("/var/eole-httpd", "/usr/local/apache2/htdocs")


def test_missing_host_directory_is_accepted(write_config, dicos, tmp_path):
    configuration = load_configuration(write_config(volumes(str(tmp_path / "a-creer"))), dicos)
    assert configuration.containers[0].volumes[0].host_dir == str(tmp_path / "a-creer")


@pytest.mark.parametrize("container", ["relative", "/", "/a/../b", "/a:ro", "/proc", "/sys/fs", "/dev"])
def test_bad_container_directories_are_refused(write_config, dicos, container):
    assert_only(refuse(write_config, dicos, volumes("/srv/data", container)), "conteneur1_rep_conteneur", 0)


def test_host_directory_without_container_directory_is_refused(write_config, dicos):
    values = one_container(conteneur1_rep_hote=["/srv/a", "/srv/b"], conteneur1_rep_conteneur={"0": "/a"})
    assert_only(refuse(write_config, dicos, values), "conteneur1_rep_conteneur", 1)


def test_same_container_directory_twice_is_refused(write_config, dicos):
    values = one_container(conteneur1_rep_hote=["/srv/a", "/srv/b"],
                           conteneur1_rep_conteneur={"0": "/data", "1": "/data/"})
    assert_only(refuse(write_config, dicos, values), "conteneur1_rep_conteneur", 1)


def ports(container, host):
    return one_container(conteneur1_port_conteneur=[container], conteneur1_port_hote={"0": host})


@pytest.mark.parametrize("port", ["0", "70000", "80a", "-1", " ", "8.5", "１２"])
def test_bad_host_ports_are_refused(write_config, dicos, port):
    error = refuse(write_config, dicos, ports("80", port))
    problems = [(p.variable, p.index) for p in error.problems]
    assert problems == [("conteneur1_port_hote", 0)], error.summary()


@pytest.mark.parametrize("port", ["0", "70000", "80a", 70000])
def test_bad_container_ports_are_refused(write_config, dicos, port):
    assert_only(refuse(write_config, dicos, ports(port, "8081")), "conteneur1_port_conteneur", 0)


@pytest.mark.parametrize("port", ["80", "443", 443])
def test_nginx_ports_are_refused(write_config, dicos, port):
    error = refuse(write_config, dicos, ports("80", port))
    assert_only(error, "conteneur1_port_hote", 0)
    assert "serveur web" in str(error.problems[0])


def test_host_port_used_twice_in_one_container_is_refused(write_config, dicos):
    values = one_container(conteneur1_port_conteneur=["80", "81"], conteneur1_port_hote={"0": "8081", "1": 8081})
    assert_only(refuse(write_config, dicos, values), "conteneur1_port_hote", 1)


def test_host_port_used_by_two_containers_is_refused(write_config, dicos):
    values = ports("80", "8081")
    values.update(nombre_conteneurs="2", conteneur2_nom="autre", conteneur2_depot="httpd",
                  conteneur2_port_conteneur=["80"], conteneur2_port_hote={"0": "8081"})
    error = refuse(write_config, dicos, values)
    assert_only(error, "conteneur2_port_hote", 0)
    assert "conteneur1_port_hote" in str(error.problems[0])


def test_slave_longer_than_master_is_refused(write_config, dicos):
    values = one_container(conteneur1_port_conteneur=["80"], conteneur1_port_hote={"0": "8081", "1": "8082"})
    error = refuse(write_config, dicos, values)
    assert [p.variable for p in error.problems] == ["conteneur1_port_hote"]
    assert "2 valeurs pour 1" in str(error.problems[0])


def test_container_port_without_host_port_is_refused(write_config, dicos):
    values = one_container(conteneur1_port_conteneur=["80", "81"], conteneur1_port_hote={"0": "8081"})
    assert_only(refuse(write_config, dicos, values), "conteneur1_port_hote", 1)


def test_all_errors_are_reported_together(write_config, dicos):
    values = one_container(conteneur1_nom="a;b", conteneur1_tag="-x", conteneur1_persistance="peut-etre",
                           conteneur1_port_conteneur=["80a"], conteneur1_port_hote={"0": "443"})
    error = refuse(write_config, dicos, values)
    assert error.variables() == {"conteneur1_nom", "conteneur1_tag", "conteneur1_persistance",
                                 "conteneur1_port_conteneur", "conteneur1_port_hote"}


@pytest.mark.parametrize("count", ["0", "21", "deux", "-1"])
def test_bad_container_count_is_refused_alone(write_config, dicos, count):
    error = refuse(write_config, dicos, one_container(nombre_conteneurs=count))
    assert_only(error, "nombre_conteneurs")


def test_bad_values_beyond_the_count_are_ignored(write_config, dicos):
    values = one_container(conteneur2_nom="a;b", conteneur2_port_hote={"0": "zz"})
    configuration = load_configuration(write_config(values), dicos)
    assert [spec.name for spec in configuration.containers] == ["service"]


def test_bad_values_are_ignored_when_containers_are_disabled(write_config, dicos):
    values = one_container(activer_conteneurs="non", nombre_conteneurs="999", conteneur1_nom="a;b")
    configuration = load_configuration(write_config(values), dicos)
    assert not configuration.enabled and configuration.containers == ()


def test_bad_activation_value_is_refused(write_config, dicos):
    assert_only(refuse(write_config, dicos, one_container(activer_conteneurs="yes")), "activer_conteneurs")


def test_bad_hub_does_not_hide_other_image_errors(write_config, dicos):
    error = refuse(write_config, dicos, one_container(conteneur1_hub="a b", conteneur1_depot="A", conteneur1_tag="-"))
    assert error.variables() == {"conteneur1_hub", "conteneur1_depot", "conteneur1_tag"}


@pytest.mark.parametrize("name", ["conteneurs_certificat", "conteneurs_cle"])
@pytest.mark.parametrize("value", ["relatif.crt", "/etc/ssl/a b.crt", "/etc/ssl/a;b", "/etc/../x", "/etc/ssl/"])
def test_bad_certificate_paths_are_refused(write_config, dicos, name, value):
    assert_only(refuse(write_config, dicos, one_container(**{name: value})), name)


@pytest.mark.parametrize("given, missing", [("conteneurs_certificat", "conteneurs_cle"),
                                            ("conteneurs_cle", "conteneurs_certificat")])
def test_half_a_certificate_pair_is_refused(write_config, dicos, given, missing):
    error = refuse(write_config, dicos, one_container(**{given: "/etc/ssl/moitie.pem"}))
    assert_only(error, missing)
    assert given in str(error.problems[0])


def test_no_certificate_given_means_eoles_or_the_modules_own(write_config, dicos):
    assert load_configuration(write_config(one_container()), dicos).containers[0].name == "service"


def test_certificate_paths_are_not_checked_without_the_module_site(write_config, dicos):
    values = one_container(conteneurs_serveur_web="apache", conteneurs_certificat="relatif")
    assert load_configuration(write_config(values), dicos).containers[0].name == "service"


@pytest.mark.parametrize("name", ["conteneurs_certificat", "conteneurs_cle"])
@pytest.mark.parametrize("value", ["/etc/cron.d/x", "/root/.ssh/id_rsa", "/proc/self/environ", "/etc/shadow",
                                   "/etc/ssh/ssh_host_rsa_key", "/usr/local/share/ca-certificates/x.crt",
                                   "/etc/eole-conteneurs/web/x.pem", "/etc/ssl", "/etc/sslx/a.pem",
                                   "/etc/ssl/certs/../../shadow"])
def test_certificate_paths_outside_the_certificate_trees_are_refused(write_config, dicos, name, value):
    error = refuse(write_config, dicos, one_container(**{name: value}))
    assert_only(error, name, value_shown=value)
    assert "/etc/ssl/" in str(error.problems[0]) and "/etc/letsencrypt/" in str(error.problems[0])


@pytest.mark.parametrize("certificate, key", [
    ("/etc/ssl/certs/eole.crt", "/etc/ssl/private/eole.key"),
    ("/etc/letsencrypt/live/scribe.ac-test.lan/fullchain.pem", "/etc/letsencrypt/live/scribe.ac-test.lan/privkey.pem"),
    ("/etc/eole-conteneurs/ssl/site.crt", "/etc/eole-conteneurs/ssl/private/site.key"),
])
def test_certificate_paths_in_the_certificate_trees_are_accepted(write_config, dicos, certificate, key):
    values = one_container(conteneurs_certificat=certificate, conteneurs_cle=key)
    assert load_configuration(write_config(values), dicos).containers[0].name == "service"


@pytest.fixture
def certificate_tree(monkeypatch):
    """A certificate tree of the test's own, standing for /etc/ssl (never the host's); a short path, so
    that messages show it whole."""
    import shutil
    import tempfile
    from pathlib import Path
    from eole_conteneurs.config import validation
    tree = Path(tempfile.mkdtemp(prefix="cert-")) / "ssl"
    (tree / "certs").mkdir(parents=True)
    (tree / "private").mkdir(mode=0o710)
    monkeypatch.setattr(validation, "CERTIFICATE_ROOTS", (str(tree),))
    yield tree
    shutil.rmtree(tree.parent)


def certificate_files(tree, key_mode=0o600):
    cert, key = tree / "certs" / "site.crt", tree / "private" / "site.key"
    cert.write_text("certificat")
    key.write_text("clé")
    key.chmod(key_mode)
    return one_container(conteneurs_certificat=str(cert), conteneurs_cle=str(key)), cert, key


def test_a_link_out_of_the_certificate_trees_is_refused(write_config, dicos, certificate_tree):
    values, cert, key = certificate_files(certificate_tree)
    secret = certificate_tree.parent / "id_rsa"
    secret.write_text("clé SSH")
    key.unlink()
    key.symlink_to(secret)
    error = refuse(write_config, dicos, values)
    assert_only(error, "conteneurs_cle", value_shown=str(key))
    assert str(secret) in str(error.problems[0])


def test_a_key_readable_by_everyone_is_refused_with_the_fix(write_config, dicos, certificate_tree):
    values, cert, key = certificate_files(certificate_tree, key_mode=0o644)
    error = refuse(write_config, dicos, values)
    assert_only(error, "conteneurs_cle", value_shown=str(key))
    assert "lisible par tous" in str(error.problems[0]) and f"chmod 600 {key}" in str(error.problems[0])


def test_a_key_readable_by_its_group_needs_debians_ssl_cert_group(write_config, dicos, certificate_tree):
    import grp
    values, cert, key = certificate_files(certificate_tree, key_mode=0o640)
    os.chown(key, -1, 0)
    assert_only(refuse(write_config, dicos, values), "conteneurs_cle", value_shown=str(key))
    try:
        os.chown(key, -1, grp.getgrnam("ssl-cert").gr_gid)
    except KeyError:
        pytest.skip("pas de groupe ssl-cert sur cet hôte")
    assert load_configuration(write_config(values), dicos).containers[0].name == "service"


def test_a_certificate_that_is_not_a_regular_file_is_refused(write_config, dicos, certificate_tree):
    values, cert, key = certificate_files(certificate_tree)
    cert.unlink()
    cert.mkdir()
    assert_only(refuse(write_config, dicos, values), "conteneurs_certificat", value_shown=str(cert))


def test_the_set_aside_suffix_is_reserved(write_config, dicos):
    error = refuse(write_config, dicos, one_container(conteneur1_nom="web--ancien-0123456789ab"))
    assert_only(error, "conteneur1_nom")
    assert "réservé" in str(error.problems[0])

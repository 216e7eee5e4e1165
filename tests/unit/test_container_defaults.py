"""What every container is started with (issue 14, item 14): no new privileges, a process limit, and
without the capabilities a service behind a reverse proxy does not need."""

from __future__ import annotations

import pytest

from eole_conteneurs.config.loading import load_configuration
from eole_conteneurs.config.model import DEFAULT_PIDS_LIMIT, DROPPED_CAPABILITIES
from eole_conteneurs.containers.labels import create_request, declared_parameters, fingerprint
from eole_conteneurs.errors import InvalidConfiguration

from tests.unit.conftest import SCOPE, apache

# The fingerprint of apache() as 0.4.0 labelled it: containers made then must not be recreated.
FINGERPRINT_0_4_0 = fingerprint({"version": 1, "image": "127.0.0.1:5000/httpd:2.4", "ports": ["127.0.0.1:8081→80"],
                                 "volumes": ["/var/eole-httpd → /usr/local/apache2/htdocs"],
                                 "restart": "unless-stopped"})


def service(**values):
    return {"activer_conteneurs": "oui", "nombre_conteneurs": "1", "conteneur1_nom": "service",
            "conteneur1_depot": "httpd", **values}


def test_defaults_of_the_request():
    request = create_request(apache(), SCOPE)
    assert request.security_options == ("no-new-privileges:true",)
    assert request.pids_limit == DEFAULT_PIDS_LIMIT
    assert set(request.cap_drop) == set(DROPPED_CAPABILITIES) == {
        "AUDIT_WRITE", "MKNOD", "NET_RAW", "SETFCAP", "SETPCAP", "SYS_CHROOT"}
    line = request.command_line()
    assert "--cap-drop NET_RAW" in line and f"--pids-limit {DEFAULT_PIDS_LIMIT}" in line


def test_the_defaults_leave_the_fingerprint_of_older_containers_unchanged():
    assert fingerprint(declared_parameters(apache())) == FINGERPRINT_0_4_0


def test_a_capability_given_back_and_another_limit(write_config, dicos):
    configuration = load_configuration(write_config(service(conteneur1_capacites=["NET_RAW", "SYS_CHROOT"],
                                                            conteneur1_processus_max="200")), dicos)
    spec = configuration.containers[0]
    request = create_request(spec, SCOPE)
    assert "NET_RAW" not in request.cap_drop and "SYS_CHROOT" not in request.cap_drop and "MKNOD" in request.cap_drop
    assert request.pids_limit == 200
    parameters = declared_parameters(spec)
    assert (parameters["capabilities"], parameters["pids"]) == (["NET_RAW", "SYS_CHROOT"], 200)


@pytest.mark.parametrize("values, variable", [
    ({"conteneur1_capacites": ["SYS_ADMIN"]}, "conteneur1_capacites"),
    ({"conteneur1_capacites": ["net_raw"]}, "conteneur1_capacites"),
    ({"conteneur1_processus_max": "0"}, "conteneur1_processus_max"),
    ({"conteneur1_processus_max": "99999999"}, "conteneur1_processus_max"),
    ({"conteneur1_processus_max": "beaucoup"}, "conteneur1_processus_max"),
])
def test_what_cannot_be_given_is_refused_naming_the_variable(write_config, dicos, values, variable):
    with pytest.raises(InvalidConfiguration) as caught:
        load_configuration(write_config(service(**values)), dicos)
    assert [problem.variable for problem in caught.value.problems] == [variable]

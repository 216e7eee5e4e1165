"""The eole-conteneurs command from a checkout: output, messages and exit codes."""

from __future__ import annotations

import subprocess

from tests.conftest import CHECKOUT


def run(*args, cwd=CHECKOUT):
    return subprocess.run(["/usr/bin/python3", "-m", "eole_conteneurs", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=60)


def test_check_shows_the_seed_containers(dicos):
    result = run("check", "--config", CHECKOUT / "examples" / "config.eol", "--dicos", dicos)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "2 conteneur(s) actif(s)" in lines[0]
    assert lines[1].split() == ["N°", "Nom", "Image", "Ports", "Répertoires", "Persistance"]
    hello = next(line for line in lines if "hello-world" in line)
    apache = next(line for line in lines if "my-apache-app" in line)
    assert "127.0.0.1:5000/hello-world:latest" in hello and "Pas de port de sortie" in hello
    for expected in ("127.0.0.1:5000/httpd:2.4", "127.0.0.1:8081→80",
                     "/var/eole-httpd → /usr/local/apache2/htdocs", " non"):
        assert expected in apache


def test_check_uses_the_checkout_dictionary_by_default(write_config, seed):
    result = run("check", "--config", write_config(seed))
    assert result.returncode == 0, result.stderr
    assert "my-apache-app" in result.stdout


def test_bad_value_exits_1_naming_the_variable(write_config, dicos, seed):
    seed["conteneur2_port_hote"] = {"0": "80a"}
    result = run("check", "--config", write_config(seed), "--dicos", dicos)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "conteneur2_port_hote (valeur n°1) : « 80a »" in result.stderr
    assert "attendu" in result.stderr


def test_invalid_json_exits_1_with_line_and_column(tmp_path, dicos):
    path = tmp_path / "config.eol"
    path.write_text('{"activer_conteneurs": {"val": "oui"},\n "x": }')
    result = run("check", "--config", path, "--dicos", dicos)
    assert result.returncode == 1
    assert "ligne 2, colonne 7" in result.stderr


def test_disabled_containers_are_reported(write_config, dicos):
    result = run("check", "--config", write_config({"activer_conteneurs": "non"}), "--dicos", dicos)
    assert result.returncode == 0
    assert "désactivée" in result.stdout


def test_broken_dictionary_exits_1_naming_file_and_line(tmp_path, write_config, seed):
    bad = tmp_path / "10_casse.xml"
    bad.write_text('<?xml version="1.0"?>\n<creole>\n<variables>\n<famille/>\n</variables>\n</creole>\n')
    result = run("check", "--config", write_config(seed), "--dicos", tmp_path)
    assert result.returncode == 1
    assert f"{bad}, ligne 4" in result.stderr and "famille" in result.stderr


def test_missing_command_is_a_usage_error():
    assert run().returncode == 2

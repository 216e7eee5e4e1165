"""What the administrator reads when a value, a file or a state file is wrong: French, naming the
variable or the file, the value clipped and its control characters escaped, exit 1 — never
« Erreur inattendue » (issue 14, item 13)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from eole_conteneurs.commands.cli import main
from eole_conteneurs.config.validation import NAME_EXPECTED
from eole_conteneurs.containers.labels import Registry
from eole_conteneurs.errors import ConfigFileError, InvalidValue, StateFileError
from eole_conteneurs.jobs.context import guarded
from eole_conteneurs.journal import Journal
from tests.conftest import CHECKOUT, config_document

DIGITS = "9" * 5000
NOBODY = 65534
DIRECTORY = "c'est un répertoire, pas un fichier"


def check(path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["check", "--config", str(path)])
    return status, out.getvalue(), err.getvalue()


def write_raw(tmp_path: Path, seed: dict, name: str, literal: str) -> Path:
    """config.eol with the variable's value written as this JSON literal (a number json.dumps cannot make)."""
    document = config_document(seed)
    document[name] = {"owner": "gen_config", "val": "@@"}
    path = tmp_path / "config.eol"
    path.write_text(json.dumps(document).replace('"@@"', literal, 1), encoding="utf-8")
    return path


NUMERIC = ["nombre_conteneurs", "conteneur2_port_conteneur", "conteneur2_port_hote", "conteneur2_sante_delai",
           "conteneur2_memoire"]


def _stored(name: str, literal: str) -> str:
    """Each variable as Creole stores it: a multi as a list, a slave as {"0": …}."""
    if name == "conteneur2_port_conteneur":
        return f"[{literal}]"
    if name == "conteneur2_port_hote":
        return f'{{"0": {literal}}}'
    return literal


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("literal", [DIGITS, f'"{DIGITS}"', "9" * 400, "-" + DIGITS, "1e400"],
                         ids=["nombre-5000", "texte-5000", "nombre-400", "negatif-5000", "1e400"])
def test_a_huge_number_is_refused_naming_the_variable(tmp_path, seed, name, literal):
    status, out, err = check(write_raw(tmp_path, seed, name, _stored(name, literal)))
    assert status == 1 and out == ""
    assert "inattendue" not in err and "Exceeds" not in err and "Error" not in err
    assert re.search(rf"^  - {name}( \(valeur n°1\))? : « ", err, re.MULTILINE), err
    digits = len(literal.strip('"'))
    if digits > 80:
        assert f"… ({digits} caractères) »" in err
    assert max(len(line) for line in err.splitlines()) < 400


def test_a_5000_digit_count_answers_in_french(tmp_path, seed):
    status, _, err = check(write_raw(tmp_path, seed, "nombre_conteneurs", DIGITS))
    assert status == 1
    assert err.startswith("Erreur : Configuration refusée (1 erreur(s)) :\n  - nombre_conteneurs : « 9999")
    assert "limit" not in err and "sys.set_int_max_str_digits" not in err


def test_deeply_nested_json_names_the_file(tmp_path):
    path = tmp_path / "config.eol"
    path.write_text('{"activer_conteneurs": {"val": ' + "[" * 100000 + "]" * 100000 + "}}")
    status, _, err = check(path)
    assert status == 1
    assert err == (f"Erreur : Fichier de configuration {path} : JSON invalide : listes ou objets imbriqués trop "
                   "profondément (au plus 16 niveaux)\n")


@pytest.mark.parametrize("depth", [17, 900])
def test_a_value_nested_beyond_what_creole_writes_names_the_entry(tmp_path, seed, depth):
    path = write_raw(tmp_path, seed, "conteneur2_nom", "[" * depth + "]" * depth)
    status, _, err = check(path)
    assert status == 1
    assert err.startswith(f"Erreur : Fichier de configuration {path} : entrée « conteneur2_nom » : listes ou objets "
                          "imbriqués sur plus de 16 niveaux")


def test_a_shallow_nested_value_is_refused_by_its_type(tmp_path, seed):
    status, _, err = check(write_raw(tmp_path, seed, "conteneur2_nom", '[[["a"]]]'))
    assert status == 1
    assert "  - conteneur2_nom : « [[['a']]] » : valeur refusée ; attendu : une valeur unique" in err


def test_invalid_utf8_is_said_in_french(tmp_path):
    path = tmp_path / "config.eol"
    path.write_bytes(b'{"activer_conteneurs": {"val": "\xff"}}')
    status, _, err = check(path)
    assert status == 1
    assert err == (f"Erreur : Fichier de configuration {path} : contenu illisible : l'octet 0xff (position 32) "
                   "n'est pas de l'UTF-8\n")


def test_a_config_that_is_a_directory_is_said_in_french(tmp_path):
    status, _, err = check(tmp_path)
    assert status == 1
    assert err == f"Erreur : Fichier de configuration {tmp_path} : lecture impossible ({DIRECTORY})\n"


# -- the registries under /var/lib/eole-conteneurs -----------------------------------------------

def registry_error(registry: Registry) -> str:
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        assert guarded(lambda: len(registry.load())) == 1
    return errors.getvalue()


def test_a_registry_that_is_a_directory_names_the_file(tmp_path):
    (tmp_path / "persistants").mkdir()
    assert registry_error(Registry(tmp_path / "persistants")) == (
        f"Erreur : Fichier d'état {tmp_path / 'persistants'} : lecture impossible ({DIRECTORY})\n")


def test_a_registry_with_invalid_utf8_names_the_file(tmp_path):
    (tmp_path / "volumes-adoptes").write_bytes(b"donnees\n\xc3(\n")
    assert registry_error(Registry(tmp_path / "volumes-adoptes")) == (
        f"Erreur : Fichier d'état {tmp_path / 'volumes-adoptes'} : contenu illisible : l'octet 0xc3 (position 8) "
        "n'est pas de l'UTF-8 ; un nom par ligne attendu\n")


def test_a_registry_that_cannot_be_read_names_the_file(tmp_path):
    readable = tmp_path / "lisible"
    readable.mkdir(mode=0o755)
    tmp_path.chmod(0o755)
    path = readable / "persistants"
    path.write_text("abc\n")
    path.chmod(0o600)

    def as_nobody() -> None:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)

    result = subprocess.run(["/usr/bin/python3", "-c", textwrap.dedent(f"""
        from pathlib import Path
        from eole_conteneurs.containers.labels import Registry
        from eole_conteneurs.jobs.context import guarded
        guarded(lambda: Registry(Path({str(path)!r})).load())
        """)], cwd=CHECKOUT, preexec_fn=as_nobody, capture_output=True, text=True, timeout=30)
    assert result.stderr == f"Erreur : Fichier d'état {path} : lecture impossible (permission refusée)\n"


def test_a_registry_that_cannot_be_written_names_the_file(tmp_path):
    (tmp_path / "persistants").mkdir()
    with pytest.raises(StateFileError, match=f"Fichier d'état {tmp_path / 'persistants'} : écriture impossible"):
        Registry(tmp_path / "persistants").save(frozenset({"abc"}))


# -- control characters ------------------------------------------------------------------------

def test_a_carriage_return_in_a_reason_is_escaped(tmp_path, seed):
    seed["conteneur2_rep_hote"] = ["/var/a\rb\x1b[2J"]
    path = tmp_path / "config.eol"
    path.write_text(json.dumps(config_document(seed)), encoding="utf-8")
    status, _, err = check(path)
    assert status == 1
    assert "\r" not in err and "\x1b" not in err
    assert r"caractère interdit dans « a\rb\x1b[2J »" in err


@pytest.mark.parametrize("char", ["\r", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u202e"])
def test_every_part_of_a_refusal_is_shown_escaped(char):
    message = str(InvalidValue(f"var{char}", f"v{char}", f"e{char}", reason=f"r{char}"))
    assert char not in message
    assert message.count(char.encode("unicode_escape").decode()) == 4


def test_errors_escape_control_characters_but_keep_line_breaks():
    message = str(ConfigFileError("/x\r", "a\nb\x1b"))
    assert message == "Fichier de configuration /x\\r : a\nb\\x1b"


def test_a_backslash_is_doubled_only_beside_an_escape():
    assert str(InvalidValue("v", "C:\\x", "e")) == "v : « C:\\x » : valeur refusée ; attendu : e"
    assert str(InvalidValue("v", "C:\\x\r", "e")) == "v : « C:\\\\x\\r » : valeur refusée ; attendu : e"


def test_the_journal_escapes_control_characters_but_keeps_line_breaks():
    journal = Journal(io.StringIO())
    journal.step("a\rb\n\tc\x1b[31m")
    journal.warn("x\u202ey")
    assert journal.out.getvalue() == "a\\rb\n\tc\\x1b[31m\nAttention : x\\u202ey\n"


# -- container names: 2 to 63 characters, as Docker ----------------------------------------------

@pytest.mark.parametrize("name, accepted", [("a", False), ("ab", True), ("a" * 63, True), ("a" * 64, False)])
def test_names_are_2_to_63_characters_as_the_readme_says(tmp_path, seed, name, accepted):
    seed["conteneur1_nom"] = name
    path = tmp_path / "config.eol"
    path.write_text(json.dumps(config_document(seed)), encoding="utf-8")
    assert check(path)[0] == (0 if accepted else 1)
    readme = (CHECKOUT / "README.md").read_text(encoding="utf-8")
    assert "- **nom** : 2 à 63 caractères" in readme
    assert NAME_EXPECTED.startswith("un nom de 2 à 63 caractères")


# -- found by the fuzzer ---------------------------------------------------------------------------

def test_a_json_boolean_is_not_a_name(tmp_path, seed):
    """false was typed "non" before any type was known: the container was named « non »."""
    seed["conteneur2_nom"] = False
    path = tmp_path / "config.eol"
    path.write_text(json.dumps(config_document(seed)), encoding="utf-8")
    status, _, err = check(path)
    assert status == 1
    assert "  - conteneur2_nom : « False » : valeur refusée ; attendu : un texte ou un nombre, pas un booléen" \
        in err


def test_a_json_boolean_still_answers_a_yes_no_variable(tmp_path, seed):
    seed["activer_conteneurs"], seed["conteneur2_persistance"] = True, True
    path = tmp_path / "config.eol"
    path.write_text(json.dumps(config_document(seed)), encoding="utf-8")
    status, out, _ = check(path)
    assert status == 0 and "2 conteneur(s) actif(s)" in out
    assert re.search(r"my-apache-app .* oui$", out, re.MULTILINE)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_names(tmp_path, seed, literal):
    """Python's JSON reads them (JSON has neither): « nan » and « inf » were accepted as container names."""
    status, _, err = check(write_raw(tmp_path, seed, "conteneur2_nom", literal))
    assert status == 1
    assert "  - conteneur2_nom : « " in err and "attendu : un nombre fini (NaN et Infinity ne sont pas du JSON)" in err

"""The dictionary: generated families, the contract of design §3, and the structural check."""

from __future__ import annotations

from pathlib import Path

import pytest

from eole_conteneurs.creole.dictionary import dictionary_files, load_dictionaries
from eole_conteneurs.creole.buildtime import build_directory, render_source
from eole_conteneurs.config.loading import load_dictionary
from eole_conteneurs.errors import DictionaryError
from tests.conftest import CHECKOUT

SOURCE = CHECKOUT / "dicos" / "60_conteneurs.xml.in"

CONTRACT = {  # field: (type, multi, mandatory, default, label)
    "nom": ("string", False, True, (), "Nom du conteneur"),
    "technologie": ("string", False, False, ("docker",), "Technologie du conteneur"),
    "hub": ("string", False, False, (), "URL du Hub (Hub Docker par défaut)"),
    "depot": ("string", False, True, (), "Nom du dépôt"),
    "tag": ("string", False, False, ("latest",), "Tag (optionnel)"),
    "rep_hote": ("string", True, False, (), "Répertoire de l'hôte partagé avec le conteneur"),
    "rep_conteneur": ("string", True, False, (), "Répertoire du conteneur partagé avec l'hôte"),
    "port_conteneur": ("port", True, False, (), "Port du conteneur"),
    "port_hote": ("port", True, False, (), "Port de l'hôte"),
    "persistance": ("oui/non", False, False, ("non",), "Activer la persistance du conteneur"),
    "chemin": ("string", False, False, (), "Chemin web du conteneur (vide : /nom du conteneur)"),
    "reseau_autorise": ("network", True, False, (), "Réseau autorisé à accéder au conteneur (vide : tous)"),
    "masque_autorise": ("netmask", True, False, (), "Masque du réseau autorisé"),
    "env_nom": ("string", True, False, (), "Variable d'environnement"),
    "env_valeur": ("string", True, False, (), "Valeur de la variable d'environnement"),
    "secret_nom": ("string", True, False, (), "Secret (fichier /run/secrets/nom)"),
    "secret_valeur": ("password", True, False, (), "Valeur du secret"),
    "volume_nom": ("string", True, False, (), "Volume de données"),
    "volume_chemin": ("string", True, False, (), "Répertoire du conteneur où le volume est monté"),
    "reseau_prive": ("string", True, False, (), "Réseau privé partagé avec d'autres conteneurs"),
    "dependance": ("string", True, False, (), "Conteneur à démarrer avant celui-ci"),
    "sante_commande": ("string", False, False, (), "Commande de vérification de santé"),
    "sante_delai": ("number", False, False, ("120",), "Délai maximal pour devenir sain (secondes)"),
    "commande": ("string", False, False, (), "Commande du conteneur (remplace celle de l'image)"),
    "memoire": ("string", False, False, (), "Mémoire maximale (512M, 2G)"),
}
EXPERT = {"chemin", "reseau_autorise", "masque_autorise", "sante_commande", "sante_delai", "commande", "memoire"}


def help_texts(dicos: Path) -> dict[str, str]:
    """The <help> section, read from the XML: gen_config shows it, the module's model leaves it out."""
    from lxml import etree
    return {element.get("name"): (element.text or "").strip()
            for path in dictionary_files(dicos) for element in etree.parse(str(path)).iterfind("help/*")}


def test_globals_follow_the_contract(dicos):
    dictionary = load_dictionary(dicos)
    activer, nombre = dictionary.variables["activer_conteneurs"], dictionary.variables["nombre_conteneurs"]
    assert (activer.family, activer.type, activer.default, activer.description) == \
        ("conteneurs", "oui/non", ("non",), "Activer la gestion des conteneurs")
    assert (nombre.type, nombre.default) == ("number", ("1",))
    (check,) = dictionary.checks_for("nombre_conteneurs")
    assert (check.name, check.param("mini"), check.param("maxi")) == ("valid_entier", "1", "20")


@pytest.mark.parametrize("index", [1, 7, 20])
def test_each_family_declares_exactly_the_contract(dicos, index):
    dictionary = load_dictionary(dicos)
    names = dictionary.families[f"Conteneur-{index}"]
    assert names == [f"conteneur{index}_{field}" for field in CONTRACT]
    for field, (kind, multi, mandatory, default, label) in CONTRACT.items():
        definition = dictionary.variables[f"conteneur{index}_{field}"]
        assert (definition.type, definition.multi, definition.mandatory, definition.default,
                definition.description) == (kind, multi, mandatory, default, label), field
        assert help_texts(dicos).get(definition.name), f"aide manquante pour {definition.name}"
        assert (definition.mode == "expert") == (field in EXPERT), field


def test_groups_enum_and_conditions(dicos):
    dictionary = load_dictionary(dicos)
    assert dictionary.masters["conteneur3_rep_hote"] == ["conteneur3_rep_conteneur"]
    assert dictionary.masters["conteneur3_port_conteneur"] == ["conteneur3_port_hote"]
    (enum,) = dictionary.checks_for("conteneur3_technologie")
    assert (enum.name, enum.params[0][1]) == ("valid_enum", "['docker']")
    assert dictionary.masters["conteneur3_reseau_autorise"] == ["conteneur3_masque_autorise"]
    by_count = {c.targets: c.params for c in dictionary.conditions if c.source == "nombre_conteneurs"}
    assert by_count[(("family", "Conteneur-3"), ("filelist", "conteneur3"))] == ("1", "2")
    assert not any(("family", "Conteneur-1") in targets for targets in by_count)
    (off,) = [c for c in dictionary.conditions if c.source == "activer_conteneurs"]
    assert off.params == ("non",)
    assert {("family", f"Conteneur-{n}") for n in range(1, 21)} <= set(off.targets)
    assert {("filelist", f"conteneur{n}") for n in range(1, 21)} | {("filelist", "conteneurs_site")} <= set(off.targets)
    (no_port,) = [c for c in dictionary.conditions if c.source == "conteneur3_port_conteneur"]
    assert (no_port.params, no_port.targets) == (("",), (("filelist", "conteneur3"),))


def test_files_declare_one_nginx_file_per_container(dicos):
    dictionary = load_dictionary(dicos)
    by_list = {decl.filelist: decl for decl in dictionary.templates}
    assert by_list["conteneur7"].name == "/etc/nginx/web.d/conteneur7.conf"
    assert by_list["conteneur7"].source == "conteneur7.conf" and by_list["conteneur7"].rm
    assert by_list["conteneurs_site"].name == "/etc/nginx/conf.d/eole-conteneurs.conf"
    assert len(dictionary.templates) == 21


@pytest.mark.parametrize("nb_max", [1, 3, 100])
def test_nb_max_is_a_build_parameter(tmp_path, nb_max):
    build_directory(CHECKOUT / "dicos", tmp_path, nb_max)
    dictionary = load_dictionaries(dictionary_files(tmp_path))
    families = [name for name in dictionary.families if name.startswith("Conteneur-")]
    assert families == [f"Conteneur-{n}" for n in range(1, nb_max + 1)]
    (check,) = dictionary.checks_for("nombre_conteneurs")
    assert check.param("maxi") == str(nb_max)


def test_nb_max_must_be_positive():
    with pytest.raises(ValueError):
        render_source(SOURCE, 0)


def test_no_family_is_copied_by_hand():
    source = SOURCE.read_text(encoding="utf-8")
    assert 'name="Conteneur-1"' not in source and "conteneur1_" not in source
    assert list((CHECKOUT / "dicos").glob("*.xml")) == []


def dictionary_with(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "99_test.xml"
    path.write_text('<?xml version="1.0" encoding="utf-8"?>\n<creole>\n' + body + "\n</creole>\n", encoding="utf-8")
    return path


FAMILY = '<variables><family name="f">\n<variable name="v" type="string"/>\n</family></variables>'


@pytest.mark.parametrize("body, line, words", [
    ('<variables>\n<family name="f">\n<varible name="v"/>\n</family></variables>', 5, "varible"),
    ('<variables>\n<family name="f">\n<variable name="v" tpye="string"/>\n</family></variables>', 5, "tpye"),
    ('<variables>\n<family name="f">\n<variable name="v" multi="oui"/>\n</family></variables>', 5, "multi"),
    ('<variables>\n<family name="f">\n<variable name="v" type="entier"/>\n</family></variables>', 5, "entier"),
    ('<variables>\n<family name="f">\n<variable name="v"/>\n</family></variables>\n<bogus/>', 7, "bogus"),
    ('<variables>\n<family name="f">\n<variable name="v">\n</family></variables>', 6, "mal formé"),
])
def test_structure_errors_name_file_and_line(tmp_path, body, line, words):
    path = dictionary_with(tmp_path, body)
    with pytest.raises(DictionaryError) as caught:
        load_dictionaries([path])
    assert caught.value.path == str(path)
    assert caught.value.line == line, str(caught.value)
    assert words in str(caught.value)
    assert f"ligne {line}" in str(caught.value)


def test_constraint_on_unknown_variable_is_refused(tmp_path):
    path = dictionary_with(tmp_path, FAMILY + '\n<constraints><check name="valid_enum" target="w">'
                           "<param>['a']</param></check></constraints>")
    with pytest.raises(DictionaryError, match="« w »"):
        load_dictionaries([path])


def test_duplicate_variable_is_refused_and_redefine_is_honoured(tmp_path):
    first = dictionary_with(tmp_path, FAMILY)
    second = tmp_path / "99_zz.xml"
    second.write_text(first.read_text())
    with pytest.raises(DictionaryError, match="déjà définie"):
        load_dictionaries([first, second])
    second.write_text('<creole><variables><family name="f"><variable name="v" redefine="True" mandatory="True">'
                      "<value>x</value></variable></family></variables></creole>")
    variable = load_dictionaries([first, second]).variables["v"]
    assert (variable.mandatory, variable.default, variable.type) == (True, ("x",), "string")


def test_empty_directory_is_refused(tmp_path):
    with pytest.raises(DictionaryError, match="aucun dictionnaire"):
        dictionary_files(tmp_path)

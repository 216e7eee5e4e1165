"""The dictionary: generated families, the contract of design §3, and the structural check."""

from __future__ import annotations

import ast
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
    "port_conteneur": ("number", True, False, (), "Port du conteneur"),
    "port_hote": ("number", True, False, (), "Port de l'hôte"),
    "persistance": ("oui/non", False, False, ("non",), "Activer la persistance du conteneur"),
    "publication": ("oui/non", False, False, ("oui",), "Publier le conteneur sur le web (https://serveur/nom/)"),
    "chemin": ("string", False, False, (), "Chemin web du conteneur (vide : /nom du conteneur)"),
    "reseau_autorise": ("ip", True, False, (), "Réseau autorisé à accéder au conteneur (vide : tous)"),
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
    "processus_max": ("number", False, False, ("4096",), "Nombre maximal de processus"),
    "capacites": ("string", True, False, (), "Capacité Linux rendue au conteneur"),
    "sauvegarde_commande": ("string", False, False, (),
                            "Commande d'export pour la sauvegarde (ex. : mariadb-dump --all-databases)"),
    "restauration_commande": ("string", False, False, (),
                              "Commande de restauration (lit l'export sur son entrée standard)"),
    "sauvegarde_arret": ("oui/non", False, False, ("non",), "Arrêter le conteneur pendant la copie de ses données"),
    "mise_a_jour_auto": ("string", False, False, ("automatique",), "Accepter les mises à jour de l'image"),
    "mise_a_jour_delai": ("number", False, False, ("30",),
                          "Durée de fonctionnement exigée d'une nouvelle version sans vérification de santé (secondes)"),
}
EXPERT = {"chemin", "reseau_autorise", "masque_autorise", "sante_commande", "sante_delai", "commande", "memoire",
          "processus_max", "capacites", "sauvegarde_commande", "restauration_commande", "sauvegarde_arret",
          "mise_a_jour_auto", "mise_a_jour_delai"}
# Types EOLE's own dictionaries use (design §4): port, network and filename are found in none.
EOLE_TYPES = {"string", "number", "oui/non", "ip", "netmask", "password"}


def help_texts(dicos: Path) -> dict[str, str]:
    """The <help> section, read from the XML: gen_config shows it, the module's model leaves it out."""
    from lxml import etree
    return {element.get("name"): (element.text or "").strip()
            for path in dictionary_files(dicos) for element in etree.parse(str(path)).iterfind("help/*")}


def enum(dictionary, name: str) -> list[str]:
    (check,) = dictionary.checks_for(name)
    assert check.name == "valid_enum", name
    return ast.literal_eval(check.params[0][1])


def test_globals_follow_the_contract(dicos):
    dictionary = load_dictionary(dicos)
    activer, nombre = dictionary.variables["activer_conteneurs"], dictionary.variables["nombre_conteneurs"]
    assert (activer.family, activer.type, activer.default, activer.description) == \
        ("conteneurs", "oui/non", ("non",), "Activer la gestion des conteneurs")
    assert (nombre.family, nombre.type, nombre.default) == ("conteneurs", "string", ("1",))
    assert enum(dictionary, "nombre_conteneurs") == [str(n) for n in range(1, 21)]
    web = dictionary.variables["conteneurs_serveur_web"]
    assert (web.family, web.type, web.default) == ("conteneurs", "string", ("automatique",))
    assert enum(dictionary, "conteneurs_serveur_web") == ["automatique", "nginx", "apache", "aucun"]
    for name in ("conteneurs_certificat", "conteneurs_cle"):
        definition = dictionary.variables[name]
        assert (definition.family, definition.type, definition.default) == ("conteneurs", "string", ()), name
    backups = {"conteneurs_sauvegarde_depot": ("/var/backups/eole-conteneurs",),
               "conteneurs_sauvegarde_conservation": ("7 4 6",), "conteneurs_sauvegarde_frequence": ("non",),
               "conteneurs_sauvegarde_heure": ("03:15",)}
    for name, default in backups.items():
        definition = dictionary.variables[name]
        assert (definition.family, definition.type, definition.default) == ("conteneurs", "string", default), name
    assert enum(dictionary, "conteneurs_sauvegarde_frequence") == ["non", "quotidienne", "hebdomadaire"]


def test_only_types_found_in_eole_dictionaries(dicos):
    dictionary = load_dictionary(dicos)
    assert {definition.type for definition in dictionary.variables.values()} <= EOLE_TYPES


@pytest.mark.parametrize("index", [1, 7, 20])
def test_each_family_declares_exactly_the_contract(dicos, index):
    dictionary = load_dictionary(dicos)
    names = dictionary.families[f"conteneur-{index}"]
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
    assert enum(dictionary, "conteneur3_technologie") == ["docker", "podman"]
    assert dictionary.masters["conteneur3_reseau_autorise"] == ["conteneur3_masque_autorise"]
    for field in ("port_conteneur", "port_hote"):
        (check,) = dictionary.checks_for(f"conteneur3_{field}")
        assert (check.name, check.param("mini"), check.param("maxi")) == ("valid_entier", "1", "65535"), field
    by_count = {c.targets: c.params for c in dictionary.conditions if c.source == "nombre_conteneurs"}
    assert by_count[(("family", "conteneur-3"), ("filelist", "conteneur3"))] == ("1", "2")
    assert not any(("family", "conteneur-1") in targets for targets in by_count)
    (off,) = [c for c in dictionary.conditions if c.source == "activer_conteneurs"]
    assert off.params == ("non",)
    assert {("family", f"conteneur-{n}") for n in range(1, 21)} <= set(off.targets)
    assert {("filelist", f"conteneur{n}") for n in range(1, 21)} <= set(off.targets)
    (unpublished,) = [c for c in dictionary.conditions if c.source == "conteneur3_publication"]
    assert (unpublished.name, unpublished.params, unpublished.targets) == \
        ("disabled_if_in", ("non",), (("filelist", "conteneur3"),))


def test_families_are_lower_case_and_conditions_never_read_a_multi(dicos):
    """EOLE's ways (design §4): families named in lower-case ASCII, an oui/non switch rather than a multi."""
    dictionary = load_dictionary(dicos)
    assert all(name == name.lower() and name.isascii() for name in dictionary.families)
    targeted = {target for condition in dictionary.conditions for kind, target in condition.targets if kind == "family"}
    assert targeted <= set(dictionary.families)
    assert [c.source for c in dictionary.conditions if dictionary.variables[c.source].multi] == []


def test_files_declare_an_nginx_and_an_apache_file_per_container(dicos):
    dictionary = load_dictionary(dicos)
    seventh = {decl.name: decl for decl in dictionary.templates if decl.filelist == "conteneur7"}
    assert set(seventh) == {"/etc/eole-conteneurs/web/nginx/conteneur7.conf",
                            "/etc/eole-conteneurs/web/apache/conteneur7.conf"}
    assert seventh["/etc/eole-conteneurs/web/nginx/conteneur7.conf"].source == "conteneur7.conf"
    assert seventh["/etc/eole-conteneurs/web/apache/conteneur7.conf"].source == "apache-conteneur7.conf"
    assert all(decl.rm for decl in seventh.values())
    assert len(dictionary.templates) == 40


@pytest.mark.parametrize("nb_max", [1, 3, 100])
def test_nb_max_is_a_build_parameter(tmp_path, nb_max):
    build_directory(CHECKOUT / "dicos", tmp_path, nb_max)
    dictionary = load_dictionaries(dictionary_files(tmp_path))
    families = [name for name in dictionary.families if name.startswith("conteneur-")]
    assert families == [f"conteneur-{n}" for n in range(1, nb_max + 1)]
    assert enum(dictionary, "nombre_conteneurs") == [str(n) for n in range(1, nb_max + 1)]


def test_nb_max_must_be_positive():
    with pytest.raises(ValueError):
        render_source(SOURCE, 0)


def test_no_family_is_copied_by_hand():
    source = SOURCE.read_text(encoding="utf-8")
    assert 'name="conteneur-1"' not in source and 'name="Conteneur-1"' not in source and "conteneur1_" not in source
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


def test_services_take_the_attributes_of_eole_dictionaries(tmp_path):
    """Real EOLE dictionaries order their services (startlevel, stoplevel) and may declare none managed."""
    path = dictionary_with(tmp_path, '<files><service stoplevel="20" startlevel="92">nginx</service>\n'
                           '<service method="none" servicelist="web">apache2</service></files>\n' + FAMILY)
    assert list(load_dictionaries([path]).variables) == ["v"]


def test_constraints_take_level_and_fallback(tmp_path):
    path = dictionary_with(tmp_path, FAMILY + '\n<constraints>'
                           '<check name="valid_enum" target="v" level="warning" fallback="True"><param>[\'a\']</param></check>'
                           '<fill name="calc_val" target="v" level="warning" fallback="True"><param>a</param></fill>'
                           '<condition name="disabled_if_in" source="v" fallback="True" level="warning">'
                           '<param>b</param><target type="variable">v</target></condition></constraints>')
    dictionary = load_dictionaries([path])
    assert [check.name for check in dictionary.checks_for("v")] == ["valid_enum"]


def test_empty_directory_is_refused(tmp_path):
    with pytest.raises(DictionaryError, match="aucun dictionnaire"):
        dictionary_files(tmp_path)

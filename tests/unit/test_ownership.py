"""Ownership cannot come from an image (issue 14, item 5): a container run from an image committed
from a managed container inherits the module's labels, but is not the module's."""

from __future__ import annotations

from dataclasses import replace

from eole_conteneurs.containers.labels import LABEL_CREATION, LABEL_SCOPE, create_request, managed_by
from eole_conteneurs.containers.planner import Conflict, Keep, make_plan

from tests.unit.conftest import SCOPE, apache, images_for, observed_for


def committed(labels: dict[str, str]) -> dict[str, str]:
    """The labels of an image made by `docker commit` of a container carrying `labels`."""
    return dict(labels)


def test_each_creation_draws_its_own_creation_value():
    first, second = (create_request(apache(), SCOPE).labels[LABEL_CREATION] for _ in range(2))
    assert len(first) == 32 and first != second


def test_a_container_that_inherited_the_labels_is_not_managed():
    made = observed_for(apache(), labels=create_request(apache(), SCOPE).labels)
    copy = replace(made, id="f" * 64, name="copie", image_labels=committed(made.labels))
    assert managed_by(made, SCOPE)
    assert not managed_by(copy, SCOPE)


def test_a_container_made_before_creation_values_is_managed_unless_its_image_has_the_labels():
    legacy = observed_for(apache())  # labels of 0.4.0: no creation value
    assert LABEL_CREATION not in legacy.labels and managed_by(legacy, SCOPE)
    assert not managed_by(replace(legacy, image_labels=committed(legacy.labels)), SCOPE)


def test_the_module_may_run_a_committed_image_itself():
    """Its own creation value differs from the one the image carries."""
    image_labels = committed(create_request(apache(), SCOPE).labels)
    own = observed_for(apache(), labels=create_request(apache(), SCOPE).labels)
    assert managed_by(replace(own, image_labels=image_labels), SCOPE)


def test_an_image_with_other_labels_changes_nothing():
    own = observed_for(apache(), labels=create_request(apache(), SCOPE).labels)
    assert managed_by(replace(own, image_labels={"maintainer": "x", LABEL_SCOPE + ".autre": "y"}), SCOPE)


def test_the_plan_neither_removes_nor_recreates_a_copy():
    spec = apache()
    made = observed_for(spec, labels=create_request(spec, SCOPE).labels)
    undeclared = replace(made, id="e" * 64, name="copie", image_labels=committed(made.labels))
    plan = make_plan([spec], [made, undeclared], images_for(spec), SCOPE)
    assert [(type(action), action.name) for action in plan.actions] == [(Keep, spec.name)]
    # Under a declared name (the module's container gone): a conflict, never a recreation.
    impostor = replace(undeclared, name=spec.name)
    [action] = make_plan([spec], [impostor], images_for(spec), SCOPE).actions
    assert isinstance(action, Conflict) and "n'est pas géré" in action.reason

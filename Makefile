# eole-conteneurs — build, install (EOLE locations, DESTDIR honoured), package, test, demo.
PYTHON   ?= /usr/bin/python3
DESTDIR  ?=
NB_MAX   ?= 20
BUILD    := build
VERSION  := $(shell $(PYTHON) -c 'import eole_conteneurs; print(eole_conteneurs.__version__)')

EOLE_SHARE    := $(DESTDIR)/usr/share/eole
DICOS_DIR     := $(EOLE_SHARE)/creole/dicos
DISTRIB_DIR   := $(EOLE_SHARE)/creole/distrib
PYTHON_DIR    := $(DESTDIR)/usr/lib/python3/dist-packages
EXAMPLES_DIR  := $(DESTDIR)/usr/share/doc/eole-conteneurs/examples
HOOK_PHASES   := pretemplate posttemplate postservice diagnose

.PHONY: all dicos install install-eole install-python deb check test test-deps demo bench clean

all: dicos

# The families Conteneur-1 … Conteneur-$(NB_MAX) and their templates come from one source each.
dicos:
	rm -rf $(BUILD)/dicos $(BUILD)/tmpl
	$(PYTHON) -m eole_conteneurs.creole.buildtime dicos dicos $(BUILD)/dicos --nb-max $(NB_MAX)
	$(PYTHON) -m eole_conteneurs.creole.buildtime tmpl tmpl $(BUILD)/tmpl --nb-max $(NB_MAX)

# Everything but the Python package: what EOLE's eole.mk would install.
install-eole: dicos
	install -d $(DICOS_DIR) $(DISTRIB_DIR) $(EXAMPLES_DIR)
	install -m 0644 $(BUILD)/dicos/*.xml $(DICOS_DIR)/
	install -m 0644 $(BUILD)/tmpl/* $(DISTRIB_DIR)/
	for phase in $(HOOK_PHASES); do \
	    [ -d $$phase ] || continue; \
	    install -d $(EOLE_SHARE)/$$phase; \
	    find $$phase -maxdepth 1 -type f ! -name '.*' ! -name '*.*' -exec install -m 0755 {} $(EOLE_SHARE)/$$phase/ \; ; \
	done
	install -m 0644 examples/*.eol $(EXAMPLES_DIR)/
	install -D -m 0755 schedule/scripts/eole-conteneurs $(EOLE_SHARE)/schedule/scripts/eole-conteneurs

# Without pybuild (plain `make install`): the package and the command.
install-python:
	install -d $(DESTDIR)/usr/bin
	cd eole_conteneurs && find . -name __pycache__ -prune -o -type f \( -name '*.py' -o -path './*/data/*' \) -print | \
	    while read -r file; do install -D -m 0644 "$$file" "$(PYTHON_DIR)/eole_conteneurs/$$file"; done
	printf '#!/usr/bin/python3\nimport sys\nfrom eole_conteneurs.commands.cli import command\nsys.exit(command())\n' > $(DESTDIR)/usr/bin/eole-conteneurs
	chmod 0755 $(DESTDIR)/usr/bin/eole-conteneurs

install: install-eole install-python

# Built from a copy of the tracked files so that nothing is written outside $(BUILD).
deb:
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/eole-conteneurs-$(VERSION)
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t $(BUILD)/deb/eole-conteneurs-$(VERSION)
	cd $(BUILD)/deb/eole-conteneurs-$(VERSION) && dpkg-buildpackage -us -uc -b
	cp $(BUILD)/deb/eole-conteneurs_$(VERSION)_all.deb $(BUILD)/
	@echo "Paquet : $(BUILD)/eole-conteneurs_$(VERSION)_all.deb"

# Debian packages, then dockerd, the registry on 127.0.0.1:5000 (seeded), nginx.
test-deps:
	bash tests/setup-host.sh
	bash tests/lab.sh start

# Types (Debian's mypy, settings in mypy.ini) and the import graph (no cycle, no stage reaching up).
check:
	mypy
	$(PYTHON) tools/import_graph.py

test: test-deps check
	$(PYTHON) -m pytest -v -p no:cacheprovider tests

demo: test-deps
	bash tests/demo.sh

# Benchmark against docker-compose and the seed's sequence (long: make bench N=20 RUNS=3 is quicker).
# SEED_LIMIT: the seed's runs estimated longer than this (s) are reported as not measured.
N          ?= 1,20,100
RUNS       ?= 5
SEED_LIMIT ?= 600
# Then `eole-conteneurs sauvegarde` (bench/backup.py): a first backup, then unchanged ones, of BACKUP_N
# containers with BACKUP_MO Mo in each data volume.
BACKUP_N   ?= 20
BACKUP_MO  ?= 20
# Then `eole-conteneurs mise-a-jour` (bench/update.py): requests through nginx during a good and a bad update
# of one published container, UPDATE_RUNS times each; unavailability of the service in seconds.
UPDATE_RUNS ?= 3
# Then bench/technologies.py: cold deploy and no-op re-run of 20 containers under Docker, then under Podman.
bench: test-deps
	bash bench/setup.sh
	$(PYTHON) bench/run.py --n $(N) --runs $(RUNS) --seed-limit $(SEED_LIMIT)
	$(PYTHON) bench/backup.py --n $(BACKUP_N) --mo $(BACKUP_MO)
	$(PYTHON) bench/update.py --repetitions $(UPDATE_RUNS)
	$(PYTHON) bench/technologies.py --n 20 --runs $(RUNS)

clean:
	rm -rf $(BUILD) .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

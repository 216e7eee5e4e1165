"""Python part of eole-conteneurs (built by pybuild; EOLE files are installed by the Makefile)."""

from setuptools import find_packages, setup

from eole_conteneurs import __version__

setup(
    name="eole-conteneurs",
    version=__version__,
    description="Services as Docker containers declared in an EOLE server's configuration",
    license="GPL-3+",
    packages=find_packages(include=["eole_conteneurs", "eole_conteneurs.*"]),
    package_data={"eole_conteneurs.creole": ["data/*"]},
    entry_points={"console_scripts": ["eole-conteneurs = eole_conteneurs.commands.cli:command"]},
)

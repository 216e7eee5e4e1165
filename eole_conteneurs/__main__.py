import sys

from eole_conteneurs.commands.cli import command

sys.exit(command())

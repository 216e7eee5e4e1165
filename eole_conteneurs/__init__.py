"""eole-conteneurs: services as Docker containers declared in an EOLE server's configuration."""

__version__ = "0.7.0"

"""eole-conteneurs: services as Docker or Podman containers declared in an EOLE server's configuration."""

__version__ = "0.8.0"

"""Validate: typed values → the container model (ContainerSpec), every problem reported at once."""

"""Plan and apply: what the module writes on a container (labels), the pure planner, the executor."""

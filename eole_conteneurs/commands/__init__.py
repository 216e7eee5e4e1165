"""The commands administrators type: eole-conteneurs (check, plan, apply, …), status, diagnose."""

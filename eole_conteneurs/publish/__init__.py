"""Publish: rendered files swapped in as a transaction (checkpoint, commit, rollback), nginx on top."""

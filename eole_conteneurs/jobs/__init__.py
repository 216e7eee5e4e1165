"""Run: the job's settings and mode, the lock, the host, the operations, reconfigure and its hooks."""

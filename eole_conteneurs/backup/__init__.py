"""Backup and restore of the containers' data (BorgBackup; EOLE's Bareos)."""

"""What a reconfigure remembers of the previous one: the images it asked the registry about."""

from __future__ import annotations

from pathlib import Path

from eole_conteneurs.cache import read_json, write_json

IMAGES_FILE = "images.json"


def images_of_last_run(cache_dir: Path | None) -> list[str]:
    """The next run asks the registry about these first, early (engine.prefetch)."""
    stored = read_json(cache_dir / IMAGES_FILE) if cache_dir is not None else None
    refs = stored.get("images") if stored is not None else None
    return [ref for ref in refs if isinstance(ref, str)] if isinstance(refs, list) else []


def remember_images(cache_dir: Path | None, refs: list[str]) -> None:
    if cache_dir is not None and images_of_last_run(cache_dir) != refs:
        write_json(cache_dir / IMAGES_FILE, {"images": refs})

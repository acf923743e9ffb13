"""Where madoguchi's own files are: the repository root and the resource files (wording, lexicons)."""

from __future__ import annotations

from pathlib import Path

#: The repository (or installed project) root: directory/, deploy/, var/ hang off it.
ROOT = Path(__file__).resolve().parent.parent
#: Wording and lexicons read by the language and domain rules (YAML, one file a concern).
RESOURCES = Path(__file__).resolve().parent / "resources"

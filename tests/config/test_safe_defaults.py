"""What `make up` runs with: debug off, friendly error pages, static files, a private key, private files."""

import json
import os
import stat
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage

from config.envfile import ensure_secret_key
from tests.config.test_settings import ROOT, manage

# The settings `make up` uses (manage.py's default), a key as `make up` writes into .env, nothing else set.
AS_MAKE_UP = {"DJANGO_SETTINGS_MODULE": "config.settings.local", "DJANGO_SECRET_KEY": "k" * 60}
PROBE = """
import json
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST="127.0.0.1")
page = client.get("/nonexistent")
static = client.get("/static/analysis/htmx.min.js")
print(json.dumps({
    "debug": settings.DEBUG,
    "status": page.status_code,
    "html": page.content.decode(),
    "csp": page.get("Content-Security-Policy", ""),
    "static": static.status_code,
}))
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def without_debug_in_environment() -> dict:
    return {key: value for key, value in os.environ.items() if key != "DJANGO_DEBUG"}


def test_make_up_settings_answer_a_missing_page_with_the_friendly_404_not_the_debug_page(monkeypatch):
    monkeypatch.delenv("DJANGO_DEBUG", raising=False)
    shown = manage("shell", "--no-imports", "-c", PROBE, **AS_MAKE_UP)
    assert shown.returncode == 0, shown.stderr
    answer = json.loads(shown.stdout.strip().splitlines()[-1])
    assert answer["debug"] is False
    assert answer["status"] == 404
    assert "Page not found" in answer["html"] and "Go to your home page" in answer["html"]
    assert "Django" not in answer["html"] and "DEBUG" not in answer["html"]  # no technical page
    assert "default-src 'self'" in answer["csp"]
    assert answer["static"] == 200  # WhiteNoise serves the app's files with DEBUG off, without collectstatic


def test_debug_is_an_explicit_opt_in_that_brings_a_development_key():
    shown = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.DEBUG, settings.SECRET_KEY.startswith('insecure'))",
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_DEBUG="true",
        DJANGO_SECRET_KEY="",  # as copied from .env.example
    )
    assert shown.stdout.strip().splitlines()[-1] == "True True", shown.stderr


def test_the_secret_key_is_written_once_into_a_private_env_file(tmp_path):
    env_file = tmp_path / ".env"
    assert ensure_secret_key(env_file) is True
    assert mode(env_file) == 0o600
    (line,) = env_file.read_text().splitlines()
    assert line.startswith("DJANGO_SECRET_KEY=") and len(line.split("=", 1)[1]) >= 50
    assert ensure_secret_key(env_file) is False  # a second run never replaces it
    assert env_file.read_text().splitlines() == [line]


def test_an_existing_key_is_kept_and_an_empty_one_from_the_example_is_filled(tmp_path):
    kept = tmp_path / "kept.env"
    kept.write_text("DJANGO_DEBUG=false\nDJANGO_SECRET_KEY='mine'\n")
    kept.chmod(0o644)
    assert ensure_secret_key(kept) is False
    assert kept.read_text() == "DJANGO_DEBUG=false\nDJANGO_SECRET_KEY='mine'\n"
    assert mode(kept) == 0o600
    filled = tmp_path / "filled.env"
    filled.write_text((ROOT / ".env.example").read_text())
    assert ensure_secret_key(filled) is True
    keys = [line for line in filled.read_text().splitlines() if line.startswith("DJANGO_SECRET_KEY=")]
    assert len(keys) == 1 and len(keys[0]) > len("DJANGO_SECRET_KEY=") + 50


def test_var_the_sqlite_database_and_uploads_are_private(tmp_path):
    database = tmp_path / "db" / "sandgate.sqlite3"
    database.parent.mkdir()
    media = tmp_path / "media"
    shown = manage(
        "migrate",
        "--noinput",
        **AS_MAKE_UP,
        DATABASE_URL=f"sqlite:///{database}",
        SANDGATE_MEDIA_ROOT=str(media),
    )
    assert shown.returncode == 0, shown.stderr
    assert mode(ROOT / "var") == 0o700
    assert mode(database) == 0o600
    assert mode(media) == 0o700
    for journal in database.parent.glob("sandgate.sqlite3-*"):
        assert mode(journal) == 0o600, journal


def test_uploaded_files_sit_in_folders_only_their_owner_can_enter(settings, tmp_path):
    storage = FileSystemStorage(location=tmp_path / "media")
    name = storage.save("datasets/1/2/sales.csv", ContentFile(b"a,b\n1,2\n"))
    path = Path(storage.path(name))
    for folder in (path.parent, path.parent.parent, path.parent.parent.parent):
        assert mode(folder) == 0o700, folder
    # Readable by "others" only past those folders: the sandbox's own uid gets it through a bind mount.
    assert mode(path) == 0o644

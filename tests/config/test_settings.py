import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        # A key as `make up` writes into .env; tests that are about the key pass their own.
        env={**os.environ, "DJANGO_SECRET_KEY": "test-only-key-not-secret-" + "0" * 40, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy_without_warnings():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(60),
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    result = manage("check", DJANGO_SETTINGS_MODULE="config.settings.production", DJANGO_SECRET_KEY="")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_local_settings_refuse_debug_off_without_a_secret_key():
    result = manage(
        "check", DJANGO_SETTINGS_MODULE="config.settings.local", DJANGO_DEBUG="false", DJANGO_SECRET_KEY=""
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_celery_time_limits_sit_above_the_sandbox_wall_timeout(settings):
    wall = settings.SANDBOX_LIMITS["wall_seconds"]
    assert wall < settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1


STORAGE_CLASS = "from django.core.files.storage import storages; print(type(storages['default']).__name__)"


def storage_class(**env: str) -> str:
    shown = manage("shell", "--no-imports", "-c", STORAGE_CLASS, **env)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.strip()


def test_datasets_and_artifacts_stay_on_the_local_disk_unless_a_bucket_is_named():
    assert storage_class(AWS_STORAGE_BUCKET_NAME="") == "FileSystemStorage"
    named = storage_class(AWS_STORAGE_BUCKET_NAME="sandgate", AWS_S3_ENDPOINT_URL="http://127.0.0.1:1")
    assert named == "S3Storage"

"""One machine (`make up`, `manage.py`): debug off unless DJANGO_DEBUG=true; the key from the environment or
`.env` (`make up` writes a random one there on its first run), a development key only while debug is on."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
DEVELOPMENT_KEY = "insecure-local-development-key-change-me-0123456789"
SECRET_KEY = env("DJANGO_SECRET_KEY", default="") or (DEVELOPMENT_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "Set DJANGO_SECRET_KEY when DJANGO_DEBUG is off: `make up` (or `python3 config/envfile.py .env`) "
        "writes a random one into .env; DJANGO_DEBUG=true uses a development key on your own machine."
    )

"""Bench-only URLconf: the app's URLs plus `/bench/ping`, the minimal DRF endpoint the API is compared with.

Loaded only by the benchmark's gunicorn (`bench/settings.py` sets `ROOT_URLCONF`), never in production.
"""

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as app_urlpatterns


class PingApi(APIView):
    """Same authentication, permission, renderer and database as the API: one token lookup, a tiny body."""

    def get(self, request):
        return Response({"ok": True, "user": request.user.pk})


urlpatterns = [path("bench/ping", PingApi.as_view()), *app_urlpatterns]

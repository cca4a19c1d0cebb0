"""The analysts' pages, at the site root."""

from django.contrib.auth import views as auth_views
from django.urls import path

from config.auth import LoginForm

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        views.LoginView.as_view(
            template_name="analysis/login.html",
            authentication_form=LoginForm,
            redirect_authenticated_user=True,
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("ask/", views.ask, name="ask"),
    path("sessions/<uuid:session_id>/", views.session_detail, name="session"),
    path(
        "sessions/<uuid:session_id>/requests/<uuid:request_id>/",
        views.request_status,
        name="request-status",
    ),
    path(
        "sessions/<uuid:session_id>/requests/<uuid:request_id>/output/",
        views.request_output,
        name="request-output",
    ),
    path("sessions/<uuid:session_id>/requests/<uuid:request_id>/run/", views.request_run, name="request-run"),
    path(
        "sessions/<uuid:session_id>/requests/<uuid:request_id>/revise/",
        views.request_revise,
        name="request-revise",
    ),
    path(
        "sessions/<uuid:session_id>/requests/<uuid:request_id>/withdraw/",
        views.request_withdraw,
        name="request-withdraw",
    ),
    path("sessions/<uuid:session_id>/notebook.ipynb", views.session_notebook, name="session-notebook"),
    path("sessions/<uuid:session_id>/script.py", views.session_script, name="session-script"),
    path("datasets/", views.datasets, name="datasets"),
    path("datasets/<uuid:dataset_id>/", views.dataset_detail, name="dataset"),
    path("datasets/<uuid:dataset_id>/status/", views.dataset_status, name="dataset-status"),
]

from django.contrib import admin
from django.urls import include, path

from analysis import apis as analysis_apis
from approvals import apis as approval_apis
from audit import apis as audit_apis
from billing import apis as billing_apis
from config import apis as config_apis
from config.auth import AdminLoginForm
from config.openapi import SchemaApi

api_urls = [
    path("analyze", analysis_apis.AnalyzeApi.as_view(), name="analyze"),
    path("execute", analysis_apis.ExecuteApi.as_view(), name="execute"),
    path(
        "executions/<uuid:execution_id>", analysis_apis.ExecutionDetailApi.as_view(), name="execution-detail"
    ),
    path(
        "executions/<uuid:execution_id>/artifacts/<str:name>",
        analysis_apis.ArtifactDownloadApi.as_view(),
        name="artifact-download",
    ),  # noqa: E501
    path("sessions", analysis_apis.SessionListApi.as_view(), name="session-list"),
    path("sessions/<uuid:session_id>", analysis_apis.SessionDetailApi.as_view(), name="session-detail"),
    path(
        "sessions/<uuid:session_id>/archive",
        analysis_apis.SessionArchiveApi.as_view(),
        name="session-archive",
    ),
    path("datasets", analysis_apis.DatasetListApi.as_view(), name="dataset-list"),
    path("datasets/<uuid:dataset_id>", analysis_apis.DatasetDetailApi.as_view(), name="dataset-detail"),
    path("approve", approval_apis.ApproveApi.as_view(), name="approve"),
    path("requests", approval_apis.RequestListApi.as_view(), name="request-list"),
    path("requests/<uuid:request_id>", approval_apis.RequestDetailApi.as_view(), name="request-detail"),
    path("requests/<uuid:request_id>/revise", approval_apis.ReviseApi.as_view(), name="request-revise"),
    path("requests/<uuid:request_id>/cancel", approval_apis.CancelApi.as_view(), name="request-cancel"),
    path("audit", audit_apis.AuditListApi.as_view(), name="audit-list"),
    path("budget", billing_apis.BudgetApi.as_view(), name="budget"),
    path("spend", billing_apis.SpendApi.as_view(), name="spend"),
    path("spend.csv", billing_apis.SpendCsvApi.as_view(), name="spend-csv"),
    path("tokens", config_apis.TokenListApi.as_view(), name="token-list"),
    path("tokens/<str:token_id>", config_apis.TokenDetailApi.as_view(), name="token-detail"),
    path("schema/", SchemaApi.as_view(), name="schema"),
]

admin.site.login_form = AdminLoginForm  # refuses, with a clear message, after too many failed logins
# No app list beside every page: the review page needs the width; the header links each role's pages.
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include((api_urls, "api"))),
    path("", include("analysis.urls")),
]

# Friendly pages for people; JSON in the API's error shape under /api/.
handler400 = "analysis.views.bad_request"
handler403 = "analysis.views.permission_denied"
handler404 = "analysis.views.page_not_found"
handler500 = "analysis.views.server_error"

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from analysis import apis as analysis_apis
from approvals import apis as approval_apis

api_urls = [
    path("analyze", analysis_apis.AnalyzeApi.as_view(), name="analyze"),
    path("execute", analysis_apis.ExecuteApi.as_view(), name="execute"),
    path("executions/<uuid:execution_id>", analysis_apis.ExecutionDetailApi.as_view(), name="execution-detail"),
    path("sessions", analysis_apis.SessionListApi.as_view(), name="session-list"),
    path("sessions/<uuid:session_id>", analysis_apis.SessionDetailApi.as_view(), name="session-detail"),
    path("datasets", analysis_apis.DatasetListApi.as_view(), name="dataset-list"),
    path("approve", approval_apis.ApproveApi.as_view(), name="approve"),
    path("requests", approval_apis.RequestListApi.as_view(), name="request-list"),
    path("requests/<uuid:request_id>", approval_apis.RequestDetailApi.as_view(), name="request-detail"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include((api_urls, "api"))),
]

"""The reviewer console: a queue of requests, the code highlighted, decisions through the services."""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from billing.models import Membership
from config.exceptions import ApplicationError

from . import services
from .models import ApprovalRequest

CODE_FORMATTER = HtmlFormatter(linenos="table", cssclass="sg-code", wrapcode=True)


class RejectForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}), max_length=2000)


def reviewable_teams(user):
    return Membership.objects.filter(user=user, role=Membership.Role.REVIEWER).values("team_id")


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(admin.ModelAdmin):
    change_form_template = "admin/approvals/approvalrequest/change_form.html"
    list_display = ("short_query", "team", "user", "status", "waiting", "provider", "created_at")
    list_filter = ("status", "team", "provider")
    list_select_related = ("team", "user")
    search_fields = ("query", "user__username", "code")
    ordering = ("created_at",)
    actions = ["approve_selected", "reject_selected"]
    readonly_fields = (
        "query",
        "highlighted_code",
        "code_sha256",
        "approved_code_sha256",
        "status",
        "user",
        "team",
        "session",
        "dataset_names",
        "budget_estimate",
        "provider",
        "model",
        "generation_error",
        "reviewer",
        "rejection_reason",
        "created_at",
        "decided_at",
    )
    fields = readonly_fields

    def get_queryset(self, request) -> QuerySet[ApprovalRequest]:
        qs = super().get_queryset(request).prefetch_related("datasets")
        if request.user.is_superuser:
            return qs
        return qs.filter(team__in=reviewable_teams(request.user))

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Question")
    def short_query(self, obj: ApprovalRequest) -> str:
        return obj.query if len(obj.query) <= 80 else obj.query[:77] + "…"

    @admin.display(description="Waiting")
    def waiting(self, obj: ApprovalRequest) -> str:
        if obj.status != ApprovalRequest.Status.PENDING_REVIEW:
            return "—"
        minutes = int((timezone.now() - obj.created_at).total_seconds() // 60)
        return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"

    @admin.display(description="Datasets")
    def dataset_names(self, obj: ApprovalRequest) -> str:
        return ", ".join(d.name for d in obj.datasets.all()) or "—"

    @admin.display(description="Code")
    def highlighted_code(self, obj: ApprovalRequest) -> str:
        if not obj.code:
            return "—"
        style = CODE_FORMATTER.get_style_defs(".sg-code")
        return format_html(
            "<style>{}</style>{}",
            mark_safe(style),
            mark_safe(highlight(obj.code, PythonLexer(), CODE_FORMATTER)),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Decisions go through the Approve/Reject forms, never through a raw save.
        extra = {"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def get_urls(self):
        urls = [
            path(
                "<uuid:pk>/approve/", self.admin_site.admin_view(self.approve_view), name="approvals_approve"
            ),
            path("<uuid:pk>/reject/", self.admin_site.admin_view(self.reject_view), name="approvals_reject"),
        ]
        return urls + super().get_urls()

    def _decide(self, http_request, obj: ApprovalRequest, service, **kwargs) -> bool:
        """Call an approvals service as the logged-in reviewer; refusals become admin messages."""
        try:
            service(request=obj, reviewer=http_request.user, **kwargs)
        except ApplicationError as exc:
            self.message_user(http_request, f"{obj.query[:60]}: {exc.message}", messages.ERROR)
            return False
        return True

    def approve_view(self, request, pk):
        obj = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method == "POST":
            sha = request.POST.get("code_sha256") or None
            if self._decide(request, obj, services.approval_request_approve, expected_sha256=sha):
                self.message_user(request, "Approved.", messages.SUCCESS)
        return redirect(reverse("admin:approvals_approvalrequest_change", args=[pk]))

    def reject_view(self, request, pk):
        obj = get_object_or_404(self.get_queryset(request), pk=pk)
        form = RejectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"]
            if self._decide(request, obj, services.approval_request_reject, reason=reason):
                self.message_user(request, "Rejected.", messages.SUCCESS)
            return redirect(reverse("admin:approvals_approvalrequest_change", args=[pk]))
        return self._reject_page(request, [obj], form)

    def _reject_page(self, request, objs, form):
        context = {
            **self.admin_site.each_context(request),
            "objects": objs,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/approvals/approvalrequest/reject.html", context)

    @admin.action(description="Approve selected requests")
    def approve_selected(self, request, queryset):
        done = sum(self._decide(request, obj, services.approval_request_approve) for obj in queryset)
        if done:
            self.message_user(request, f"Approved {done} request(s).", messages.SUCCESS)

    @admin.action(description="Reject selected requests (asks for a reason)")
    def reject_selected(self, request, queryset):
        form = RejectForm(request.POST if "reason" in request.POST else None)
        if not form.is_valid():
            return self._reject_page(request, list(queryset), form)
        reason = form.cleaned_data["reason"]
        done = sum(
            self._decide(request, obj, services.approval_request_reject, reason=reason) for obj in queryset
        )
        if done:
            self.message_user(request, f"Rejected {done} request(s).", messages.SUCCESS)
        return None

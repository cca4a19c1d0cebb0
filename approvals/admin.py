"""The reviewer console: a queue of requests, the code highlighted, decisions through the services."""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, PythonLexer

from billing.models import Membership
from billing.selectors import team_list_for_user
from config.admin import GLOBAL, OVERSIGHT, TenantAdmin
from config.exceptions import ApplicationError

from . import selectors, services
from .models import ApprovalRequest, PolicyRule
from .plan_check import plan_html
from .policy import NOT_UNDERSTOOD_RULES, RULES_BY_CODE, at_least

CODE_FORMATTER = HtmlFormatter(cssclass="sg-code", nowrap=True)
DIFF_FORMATTER = HtmlFormatter(cssclass="sg-code", wrapcode=True)
# Badge colours are classes of analysis/static/analysis/admin.css, as is the code table's and pygments'
# `.sg-code` style: the Content-Security-Policy allows no inline style.
RISK_TONES = {"low": "ok", "medium": "warn", "high": "bad"}


class RejectForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}), max_length=2000)


class EditForm(forms.Form):
    code = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 30, "cols": 110, "class": "sg-code-input"}),
        max_length=100_000,
        strip=False,
    )


def badge(text: str, tone: str) -> str:
    return format_html('<span class="sg-badge sg-badge-{}">{}</span>', tone, text)


def finding_notes(findings: list[dict]) -> str:
    rows = ((f["severity"], f["rule"], f["message"]) for f in findings)
    return format_html_join(mark_safe("<br>"), "[{}] {}: {}", rows)


def waiting_tone(minutes: int) -> str:
    return "ok" if minutes < 30 else "warn" if minutes < 240 else "bad"


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(TenantAdmin):
    team_path = "team"
    view_roles = OVERSIGHT
    change_form_template = "admin/approvals/approvalrequest/change_form.html"
    list_display = ("short_query", "team", "user", "status", "risk", "version", "waiting", "created_at")
    list_filter = ("status", "team", "risk_level", "provider")
    list_select_related = ("team", "user")
    search_fields = ("query", "user__username", "code")
    ordering = ("created_at",)
    actions = ["approve_selected", "reject_selected"]
    readonly_fields = (
        "query",
        "plan",
        "clarification_text",
        "risk",
        "votes",
        "highlighted_code",
        "diff",
        "version",
        "parent",
        "edited_by",
        "policy_reason",
        "code_sha256",
        "approved_code_sha256",
        "approval_digest",
        "approval_expires_at",
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
        return super().get_queryset(request).prefetch_related("datasets")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # Nobody saves the generic form (a raw save rewrites the whole row, unlocked and unaudited):
        # decisions and edits go only through the review pages below, which call the services.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_review_permission(self, request) -> bool:
        """Whether the approve and reject actions are offered; the services still decide each request."""
        return team_list_for_user(user=request.user, roles=(Membership.Role.REVIEWER,)).exists()

    @admin.display(description="Question")
    def short_query(self, obj: ApprovalRequest) -> str:
        return obj.query if len(obj.query) <= 80 else obj.query[:77] + "…"

    @admin.display(description="Waiting", ordering="created_at")
    def waiting(self, obj: ApprovalRequest) -> str:
        if obj.status != ApprovalRequest.Status.PENDING_REVIEW:
            return "—"
        minutes = int((timezone.now() - obj.created_at).total_seconds() // 60)
        text = f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
        return badge(text, waiting_tone(minutes))

    @admin.display(description="Risk", ordering="risk_level")
    def risk(self, obj: ApprovalRequest) -> str:
        if not obj.risk_level:
            return "—"
        count = len(obj.findings)
        label = f"{obj.risk_level} · {count} finding{'s' if count != 1 else ''}" if count else obj.risk_level
        if any(f.get("rule") in NOT_UNDERSTOOD_RULES for f in obj.findings):
            label += " · not understood"
        return badge(label, RISK_TONES.get(obj.risk_level, "none"))

    @admin.display(description="Approvals")
    def votes(self, obj: ApprovalRequest) -> str:
        names = [v.reviewer.get_username() for v in obj.votes.select_related("reviewer")]
        needed = services.approvals_needed(request=obj)
        return f"{len(names)} of {needed} needed" + (f" ({', '.join(names)})" if names else "")

    @admin.display(description="Changes from the previous version")
    def diff(self, obj: ApprovalRequest) -> str:
        if obj.parent_id is None:
            return "—"
        parent = obj.parent
        text = services.code_diff(
            old=parent.code, new=obj.code, old_label=f"v{parent.version}", new_label=f"v{obj.version}"
        )
        return mark_safe(highlight(text or "(no change)\n", DiffLexer(), DIFF_FORMATTER))

    @admin.display(description="Clarification asked for")
    def clarification_text(self, obj: ApprovalRequest) -> str:
        """Why no code was written, when the generator asked instead of guessing."""
        if not obj.clarification:
            return "—"
        c = obj.clarification
        examples = format_html_join("", "<li>{}</li>", ((e,) for e in c.get("examples", [])))
        return format_html(
            "Understood: {}<br>Missing: {}<ul>{}</ul>",
            c.get("understood", ""),
            c.get("missing", ""),
            examples,
        )

    @admin.display(description="Datasets")
    def dataset_names(self, obj: ApprovalRequest) -> str:
        return ", ".join(d.name for d in obj.datasets.all()) or "—"

    @admin.display(description="Code")
    def highlighted_code(self, obj: ApprovalRequest) -> str:
        """The code highlighted line by line, each policy finding beside the line it is about."""
        if not obj.code:
            return "—"
        by_line: dict[int, list[dict]] = {}
        for finding in obj.findings:
            by_line.setdefault(finding["line"], []).append(finding)
        # Pygments closes its spans at each line end, so every line below is balanced HTML.
        lines = highlight(obj.code, PythonLexer(), CODE_FORMATTER).split("\n")[: len(obj.code.splitlines())]
        rows = format_html_join(
            "",
            '<tr id="line-{0}" class="{1}"><td class="sg-no">{0}</td><td><pre>{2}</pre></td>'
            '<td class="sg-finding">{3}</td></tr>',
            (
                (
                    number,
                    "sg-flagged" if number in by_line else "",
                    mark_safe(html or " "),
                    finding_notes(by_line.get(number, [])),
                )
                for number, html in enumerate(lines, start=1)
            ),
        )
        return format_html('<div class="sg-code"><table class="sg-code-table">{}</table></div>', rows)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Decisions go through the Approve/Reject forms, never through a raw save.
        extra = {"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False}
        obj = self.get_object(request, object_id)
        if obj is not None and obj.code:
            extra["card"] = selectors.approval_request_card(request=obj)
            extra["plan_html"] = plan_html(obj.plan) if obj.plan else ""
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def get_urls(self):
        urls = [
            path(
                "<uuid:pk>/approve/", self.admin_site.admin_view(self.approve_view), name="approvals_approve"
            ),
            path("<uuid:pk>/reject/", self.admin_site.admin_view(self.reject_view), name="approvals_reject"),
            path("<uuid:pk>/edit/", self.admin_site.admin_view(self.edit_view), name="approvals_edit"),
            path("<uuid:pk>/revise/", self.admin_site.admin_view(self.revise_view), name="approvals_revise"),
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

    def revise_view(self, request, pk):
        """Ask for a new version of a rejected request: generated again with the rejection as feedback."""
        obj = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method == "POST" and self._decide(request, obj, services.approval_request_revise):
            self.message_user(request, "A new version is being generated.", messages.SUCCESS)
        return redirect(reverse("admin:approvals_approvalrequest_change", args=[pk]))

    def edit_view(self, request, pk):
        """The reviewer's edit: saved as the next version, which is checked and reviewed again."""
        obj = get_object_or_404(self.get_queryset(request), pk=pk)
        form = EditForm(request.POST or None, initial={"code": obj.code})
        if request.method == "POST" and form.is_valid():
            try:
                new = services.approval_request_edit(
                    request=obj, reviewer=request.user, code=form.cleaned_data["code"]
                )
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                saved = f"Saved as version {new.version} ({new.get_status_display().lower()})."
                self.message_user(request, saved, messages.SUCCESS)
                return redirect(reverse("admin:approvals_approvalrequest_change", args=[new.pk]))
        context = {
            **self.admin_site.each_context(request),
            "original": obj,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/approvals/approvalrequest/edit.html", context)

    def _reject_page(self, request, objs, form):
        context = {
            **self.admin_site.each_context(request),
            "objects": objs,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/approvals/approvalrequest/reject.html", context)

    @admin.action(description="Approve selected requests", permissions=["review"])
    def approve_selected(self, request, queryset):
        done = sum(self._decide(request, obj, services.approval_request_approve) for obj in queryset)
        if done:
            self.message_user(request, f"Approved {done} request(s).", messages.SUCCESS)

    @admin.action(description="Reject selected requests (asks for a reason)", permissions=["review"])
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


class PolicyRuleForm(forms.ModelForm):
    class Meta:
        model = PolicyRule
        fields = ("enabled", "severity", "allowed_modules")

    def clean(self):
        data = super().clean()
        rule = RULES_BY_CODE.get(self.instance.code)
        floor = rule.floor if rule else None
        severity = data.get("severity") or self.instance.severity
        if floor and (not data.get("enabled", True) or at_least(severity, floor) != severity):
            raise forms.ValidationError(
                f"{rule.code} keeps the policy check failing closed: it stays on, at {floor} or above."
            )
        return data


@admin.register(PolicyRule)
class PolicyRuleAdmin(TenantAdmin):
    """The policy check's rules: admins switch them on and off, set severities and the import allow-list."""

    team_path = GLOBAL

    form = PolicyRuleForm
    list_display = ("code", "description", "enabled", "severity")
    list_editable = ("enabled", "severity")
    readonly_fields = ("code", "description", "updated_at")
    fields = ("code", "description", "enabled", "severity", "allowed_modules", "updated_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_changelist_form(self, request, **kwargs):
        # The list's inline edits get the same validation as the change page.
        return super().get_changelist_form(request, form=PolicyRuleForm, **kwargs)

    def save_model(self, request, obj: PolicyRule, form, change) -> None:
        services.policy_rule_update(
            rule=obj,
            actor=request.user,
            enabled=obj.enabled,
            severity=obj.severity,
            allowed_modules=obj.allowed_modules,
        )

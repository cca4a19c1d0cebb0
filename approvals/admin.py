"""The reviewer console: a queue of requests, the code highlighted, decisions through the services."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpResponseRedirect
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
from config import money
from config.admin import GLOBAL, OVERSIGHT, TenantAdmin
from config.exceptions import ApplicationError
from config.navigation import review_queue_url

from . import selectors, services
from .labels import status_label
from .models import ApprovalRequest, PolicyRule
from .plan_check import plan_html
from .policy import NOT_UNDERSTOOD_RULES, RULES_BY_CODE, at_least

CODE_FORMATTER = HtmlFormatter(cssclass="sg-code", nowrap=True)
DIFF_FORMATTER = HtmlFormatter(cssclass="sg-code", wrapcode=True)
# Badge colours are classes of analysis/static/analysis/admin.css, as is the code table's and pygments'
# `.sg-code` style: the Content-Security-Policy allows no inline style.
RISK_TONES = {"low": "ok", "medium": "warn", "high": "bad"}


class RejectForm(forms.Form):
    reason = forms.CharField(
        label="Reason (shown to the analyst)",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        max_length=2000,
    )


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
    return format_html_join(mark_safe("<br>"), "<strong>{}</strong> {}: {}", rows)


def waiting_tone(minutes: int) -> str:
    return "ok" if minutes < 30 else "warn" if minutes < 240 else "bad"


class WaitingForYouFilter(admin.SimpleListFilter):
    """The review queue: what waits for this reviewer's decision (selectors.approval_request_review_queue)."""

    title = "waiting for"
    parameter_name = "waiting_for"

    def lookups(self, request, model_admin):
        return [("you", "your review")]

    def queryset(self, request, queryset):
        if self.value() == "you":
            waiting = selectors.approval_request_review_queue(user=request.user)
            return queryset.filter(pk__in=waiting.values("pk"))
        return queryset


RECORD_FIELDS = (
    "status_label",
    "user",
    "team",
    "session",
    "version",
    "parent",
    "edited_by",
    "dataset_names",
    "votes",
    "estimate",
    "provider",
    "model",
    "code_sha256",
    "approved_code_sha256",
    "approval_digest",
    "approval_expires_at",
    "policy_reason",
    "generation_error",
    "reviewer",
    "rejection_reason",
    "created_at",
    "decided_at",
)


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(TenantAdmin):
    """The review queue (the list, pending requests oldest first) and the review page (the change page).

    The review page decides first: the question, what the code reads and writes, its cost against the
    tightest budget, its risk and findings, then the code with each finding beside its line, and Approve,
    Reject with a reason and Edit above it all; the record's other fields sit folded at the bottom.
    After a decision the next request waiting for this reviewer opens.
    """

    team_path = "team"
    view_roles = OVERSIGHT
    change_form_template = "admin/approvals/approvalrequest/change_form.html"
    change_list_template = "admin/approvals/approvalrequest/change_list.html"
    list_display = ("short_query", "status_label", "risk", "user", "team", "version", "waiting", "created_at")
    list_display_links = ("short_query",)
    list_filter = (WaitingForYouFilter, "status", "team", "risk_level", "provider")
    list_select_related = ("team", "user")
    search_fields = ("query", "user__username", "code")
    ordering = ("created_at",)
    actions = ["approve_selected", "reject_selected"]
    readonly_fields = RECORD_FIELDS
    fieldsets = [("The record", {"classes": ["collapse"], "fields": RECORD_FIELDS})]

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

    @admin.display(description="Status", ordering="status")
    def status_label(self, obj: ApprovalRequest) -> str:
        return status_label(obj.status)

    @admin.display(description="Estimated cost", ordering="budget_estimate_nanos")
    def estimate(self, obj: ApprovalRequest) -> str:
        return money.usd(obj.budget_estimate)

    @admin.display(description="Waiting", ordering="created_at")
    def waiting(self, obj: ApprovalRequest) -> str:
        if obj.status != ApprovalRequest.Status.PENDING_REVIEW:
            return "—"
        minutes = waiting_minutes(obj)
        return badge(waiting_text(minutes), waiting_tone(minutes))

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

    @admin.display(description="Datasets")
    def dataset_names(self, obj: ApprovalRequest) -> str:
        return ", ".join(d.name for d in obj.datasets.all()) or "—"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Decisions go through the Approve/Reject forms, never through a raw save.
        extra = {"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False}
        obj = self.get_object(request, object_id)
        if obj is not None:
            extra["review"] = self._review(request, obj)
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def _review(self, request, obj: ApprovalRequest) -> dict:
        """What the review page shows above the record: the card, the code, and what this reviewer may do."""
        pending = obj.status == ApprovalRequest.Status.PENDING_REVIEW
        refusal = services.approval_refusal(request=obj, reviewer=request.user) if pending else None
        is_reviewer = refusal not in ("not_a_reviewer", "self_approval")
        return {
            "card": selectors.approval_request_card(request=obj) if obj.code else None,
            "plan_html": plan_html(obj.plan) if obj.plan else "",
            "code": code_table(obj),
            "diff": diff_html(obj),
            "status_label": status_label(obj.status),
            "waiting": waiting_text(waiting_minutes(obj)) if pending else "",
            "can_decide": pending and is_reviewer,
            "can_approve": pending and refusal is None,
            "why_not_approve": services.approval_refusal_message(refusal) if pending and refusal else "",
            "next_version": obj.revisions.order_by("-version").first(),
        }

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

    def _next(self, request, done: ApprovalRequest | None = None) -> HttpResponseRedirect:
        """After a decision: the next request waiting for this reviewer, or the queue saying it is empty."""
        following = selectors.approval_request_next_for_reviewer(
            user=request.user, exclude=[done.pk] if done is not None else []
        )
        if following is None:
            self.message_user(request, "Nothing else is waiting for your review.", messages.INFO)
            return redirect(review_queue_url())
        return redirect(reverse("admin:approvals_approvalrequest_change", args=[following.pk]) + "?next=1")

    def approve_view(self, request, pk):
        obj = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method != "POST":
            return redirect(reverse("admin:approvals_approvalrequest_change", args=[pk]))
        sha = request.POST.get("code_sha256") or None
        if not self._decide(request, obj, services.approval_request_approve, expected_sha256=sha):
            return redirect(reverse("admin:approvals_approvalrequest_change", args=[pk]))
        obj.refresh_from_db()
        if obj.status == ApprovalRequest.Status.PENDING_REVIEW:  # a high-risk request's first vote
            said = f"Your approval of “{obj.query[:60]}” is recorded; it needs another reviewer's too."
        else:
            said = f"Approved “{obj.query[:60]}”."
        self.message_user(request, said, messages.SUCCESS)
        return self._next(request, obj)

    def reject_view(self, request, pk):
        obj = get_object_or_404(self.get_queryset(request), pk=pk)
        form = RejectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"]
            if not self._decide(request, obj, services.approval_request_reject, reason=reason):
                return redirect(reverse("admin:approvals_approvalrequest_change", args=[pk]))
            self.message_user(
                request, f"Rejected “{obj.query[:60]}”; the analyst sees your reason.", messages.SUCCESS
            )
            return self._next(request, obj)
        return self._reject_page(request, [obj], form)

    def revise_view(self, request, pk):
        """Ask for a new version of a rejected request: generated again with the rejection as feedback."""
        obj = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method == "POST" and self._decide(request, obj, _revise):
            self.message_user(request, "A new version is being generated.", messages.SUCCESS)
        return redirect(reverse("admin:approvals_approvalrequest_change", args=[pk]))

    def edit_view(self, request, pk):
        """The reviewer's edit: saved as the next version, which another reviewer approves."""
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
                link = format_html(
                    '<a href="{}">version {}</a>',
                    reverse("admin:approvals_approvalrequest_change", args=[new.pk]),
                    new.version,
                )
                saved = format_html(
                    "Saved as {} ({}); another reviewer approves it.", link, status_label(new.status).lower()
                )
                self.message_user(request, saved, messages.SUCCESS)
                return self._next(request, obj)
        context = {
            **self.admin_site.each_context(request),
            "original": obj,
            "form": form,
            "opts": self.model._meta,
            "title": f"Edit version {obj.version}",
        }
        return TemplateResponse(request, "admin/approvals/approvalrequest/edit.html", context)

    def _reject_page(self, request, objs, form):
        context = {
            **self.admin_site.each_context(request),
            "objects": objs,
            "form": form,
            "opts": self.model._meta,
            "title": "Reject with a reason",
        }
        return TemplateResponse(request, "admin/approvals/approvalrequest/reject.html", context)

    @admin.action(
        description="Approve selected requests (asks to confirm; not for high risk)", permissions=["review"]
    )
    def approve_selected(self, request, queryset):
        """Bulk approval: a confirmation page lists each request's question and risk; high-risk requests
        are never approved in bulk (each needs its code read, and a quorum)."""
        chosen = list(queryset.order_by("created_at"))
        high = [r for r in chosen if r.risk_level == ApprovalRequest.Risk.HIGH]
        offered = [r for r in chosen if r.risk_level != ApprovalRequest.Risk.HIGH]
        if not offered:
            self.message_user(
                request, "High-risk requests are not approved in bulk: open each one.", messages.WARNING
            )
            return None
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "offered": offered,
                "high": high,
                "opts": self.model._meta,
                "title": "Approve these requests?",
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/approvals/approvalrequest/approve_confirm.html", context)
        done = 0
        for obj in offered:
            sha = request.POST.get(f"sha_{obj.pk}") or ""
            if not sha:  # not on the confirmation page this reviewer saw: not approved
                continue
            done += self._decide(request, obj, services.approval_request_approve, expected_sha256=sha)
        if done:
            self.message_user(request, f"Approved {done} request(s).", messages.SUCCESS)
        return None

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


def waiting_minutes(obj: ApprovalRequest) -> int:
    return int((timezone.now() - obj.created_at).total_seconds() // 60)


def waiting_text(minutes: int) -> str:
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def code_table(obj: ApprovalRequest) -> str:
    """The code highlighted line by line, each policy finding beside the line it is about."""
    if not obj.code:
        return ""
    by_line: dict[int, list[dict]] = {}
    for finding in obj.findings:
        by_line.setdefault(finding["line"], []).append(finding)
    # Pygments closes its spans at each line end, so every line below is balanced HTML.
    lines = highlight(obj.code, PythonLexer(), CODE_FORMATTER).split("\n")[: len(obj.code.splitlines())]
    rows = format_html_join(
        "",
        '<tr id="line-{0}" class="{1}"><td class="sg-no">{0}</td><td class="sg-line"><code>{2}</code></td>'
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
    caption = "The code, line by line; each policy finding is beside its line."
    return format_html(
        '<div class="sg-code"><table class="sg-code-table"><caption class="sg-visually-hidden">{}</caption>'
        "{}</table></div>",
        caption,
        rows,
    )


def diff_html(obj: ApprovalRequest) -> str:
    parent = obj.parent
    if parent is None:
        return ""
    text = services.code_diff(
        old=parent.code, new=obj.code, old_label=f"v{parent.version}", new_label=f"v{obj.version}"
    )
    return mark_safe(highlight(text or "(no change)\n", DiffLexer(), DIFF_FORMATTER))


def _revise(*, request, reviewer):
    return services.approval_request_revise(request=request, user=reviewer)


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

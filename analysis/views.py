"""The analysts' pages: thin views over the analysis services (writes) and selectors (reads)."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.urls import reverse
from django.utils.cache import get_conditional_response
from django.utils.http import quote_etag
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from approvals.models import ApprovalRequest
from approvals.selectors import approval_request_list, approval_request_versions
from approvals.services import approval_request_cancel, approval_request_revise
from billing.selectors import budget_status_list
from config.exceptions import ApplicationError, NotFound, error_body
from config.navigation import landing_url

from . import exports, presenters, selectors
from .forms import AskForm, DatasetUploadForm, FollowUpForm
from .models import Dataset, Execution, Session
from .services.asking import analysis_submit
from .services.datasets import dataset_upload
from .services.execution import execution_start


class LoginView(auth_views.LoginView):
    """The login page; without a `next`, each role lands where its work is (config/navigation.py)."""

    def get_default_redirect_url(self):
        return landing_url(self.request.user)


def _or_404(selector, **kwargs):
    try:
        return selector(**kwargs)
    except NotFound as exc:
        raise Http404(exc.message) from None


def _session_requests(session) -> list[ApprovalRequest]:
    return list(
        ApprovalRequest.objects.filter(session=session)
        .select_related("reviewer", "execution", "parent", "edited_by")
        .prefetch_related("datasets", "revisions", "execution__artifacts")
        .order_by("created_at")
    )


def _own_request(*, user, session_id, request_id) -> ApprovalRequest:
    """A request of one of the user's own sessions; anything else is a 404."""
    session = _or_404(selectors.session_get, user=user, session_id=session_id)
    try:
        requests = approval_request_list(user=user, execution_output=True)  # the page shows the output
        return (
            requests.filter(session=session, user=user)
            .select_related("parent", "edited_by", "session")
            .prefetch_related("revisions", "execution__artifacts")
            .get(pk=request_id)
        )
    except ApprovalRequest.DoesNotExist:
        raise Http404("Request not found.") from None


def _turn_url(request: ApprovalRequest) -> str:
    return f"{reverse('session', args=[request.session_id])}#req-{request.pk}"


@login_required
@require_GET
def home(request):
    user = request.user
    context = {
        "sessions": selectors.session_list(user=user)[:20],
        "requests": selectors.request_list_latest(user=user)[:20],
        "budgets": budget_status_list(user=user),
        "budget": presenters.budget_meter(user=user),
    }
    return render(request, "analysis/home.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def ask(request):
    datasets = selectors.dataset_list_ready(user=request.user).defer("columns")  # names only, however wide
    preselected = [d for d in request.GET.getlist("dataset") if any(str(x.pk) == d for x in datasets)]
    form = AskForm(request.POST or None, datasets=datasets, initial={"datasets": preselected})
    if request.method == "POST" and form.is_valid():
        submitted = _submit(request, form, dataset_ids=form.cleaned_data["datasets"])
        if submitted is not None:
            return redirect(_turn_url(submitted))
    context = {
        "form": form,
        "has_datasets": datasets.exists(),
        "profiling": selectors.dataset_list_in_progress(user=request.user).count(),
    }
    return render(request, "analysis/ask.html", context, status=400 if form.errors else 200)


def _submit(request, form, **kwargs) -> ApprovalRequest | None:
    try:
        return analysis_submit(user=request.user, query=form.cleaned_data["query"], **kwargs)
    except ApplicationError as exc:
        form.add_error(None, exc.message)
        return None


def _follow_up_form(request, session, requests: list[ApprovalRequest]) -> FollowUpForm:
    """The follow-up box: the session's datasets first and ticked as the last question had them."""
    ready = Dataset.objects.filter(team_id=session.team_id, status=Dataset.Status.READY)
    team_datasets = list(ready.defer("columns"))
    used = [d.pk for r in requests for d in r.datasets.all()]
    last = [str(d.pk) for d in requests[-1].datasets.all()] if requests else []
    team_datasets.sort(key=lambda d: (d.pk not in used, d.name))
    return FollowUpForm(request.POST or None, datasets=team_datasets, initial={"datasets": last})


@login_required
@require_http_methods(["GET", "POST"])
def session_detail(request, session_id):
    session = _or_404(selectors.session_get, user=request.user, session_id=session_id)
    # The versions the page's polls send back are read before the requests they describe: a change in between
    # then only makes a version older than the page (the next poll brings it), never newer (a page that would
    # wait for a change it never shows).
    versions = approval_request_versions(Q(session=session))
    requests = _session_requests(session)
    form = _follow_up_form(request, session, requests)
    if request.method == "POST" and form.is_valid():
        submitted = _submit(request, form, session_id=session.pk, dataset_ids=form.cleaned_data["datasets"])
        if submitted is not None:
            return redirect(_turn_url(submitted))  # the page opens at the new question
    active = session.status == Session.Status.ACTIVE
    turns = presenters.session_turns(requests, versions=versions, session_active=active)
    context = {"session": session, "turns": turns, "form": form}
    return render(request, "analysis/session.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def request_status(request, session_id, request_id):
    """One question's live status, polled by htmx: 204 while what the page shows is still true.

    Only the status, timeline and decision are swapped; the plan, the code, the results and the next version
    are sent once (htmx out-of-band swaps) when they first exist, so nothing the reader is looking at moves.
    Whether anything changed is answered from the request's version (one query), before anything is built;
    the answer's ETag is that version with what the poll says the page has, so an `If-None-Match` that
    still holds gets 304.
    """
    own = {"user": request.user, "session_id": session_id, "request_id": request_id}
    version = _or_404(selectors.request_version_own, **own)
    if not request.htmx:  # a person opening the fragment's address gets the whole conversation
        return redirect(f"{reverse('session', args=[session_id])}#req-{request_id}")
    # The answer depends on the version and on what the poll says the page has (its query string).
    asked = hashlib.blake2b(request.META.get("QUERY_STRING", "").encode(), digest_size=8).hexdigest()
    etag = quote_etag(f"{version}-{asked}")
    response = get_conditional_response(request, etag=etag) or _status_answer(request, version=version, **own)
    response["ETag"] = etag
    return response


# What the page already has of a request, as the poll says.
SHOWN = ("plan", "code", "results", "next", "output")


def _status_answer(request, *, version: str, user, session_id, request_id) -> HttpResponse:
    if request.GET.get("seen") == version:
        return HttpResponse(status=204)
    approval = _own_request(user=user, session_id=session_id, request_id=request_id)
    session_active = approval.session.status == Session.Status.ACTIVE
    turn = presenters.turn(approval, seen=version, session_active=session_active)
    shown = {flag: request.GET.get(flag) == "1" for flag in SHOWN}
    context = {"turn": turn, "shown": shown}
    if turn.next_version is not None and not shown["next"]:
        following = {"user": user, "session_id": session_id, "request_id": turn.next_version.pk}
        seen = selectors.request_version_own(**following)  # before the request, as for the page
        context["next_turn"] = presenters.turn(_own_request(**following), seen=seen)
    return render(request, "analysis/_status_update.html", context)


@login_required
@require_GET
def request_output(request, session_id, request_id):
    """What the question's run printed after live chunk `after`, polled by htmx only while it may still print:
    new lines are appended to the output box (nothing else on the page moves), 204 while nothing is new, 286
    (htmx: stop polling) once the run ended; the status poll then shows its results."""
    execution_id = selectors.execution_id_of_own_request(
        user=request.user, session_id=session_id, request_id=request_id
    )
    if execution_id is None:
        raise Http404("No run yet.")
    try:
        after = max(int(request.GET.get("after", "0")), 0)
    except ValueError:
        after = 0
    watched = selectors.execution_get_watched(user=request.user, execution_id=execution_id, after=after)
    if watched.status in Execution.FINAL_STATUSES:
        return HttpResponse(status=286)
    if watched.output_seq == after:
        return HttpResponse(status=204)
    context = {"request_id": request_id, "session_id": session_id, "after": watched.output_seq}
    context.update(stdout=watched.stdout, stderr=watched.stderr, interval=presenters.OUTPUT_POLL_MILLISECONDS)
    return render(request, "analysis/_output_update.html", context)


@login_required
@require_POST
def request_run(request, session_id, request_id):
    approval = _own_request(user=request.user, session_id=session_id, request_id=request_id)
    try:
        execution_start(request=approval, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect(_turn_url(approval))


@login_required
@require_POST
def request_revise(request, session_id, request_id):
    """ "Ask again with this feedback": the next version, generated with the reviewer's reason."""
    approval = _own_request(user=request.user, session_id=session_id, request_id=request_id)
    try:
        revision = approval_request_revise(request=approval, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(_turn_url(approval))
    return redirect(_turn_url(revision))


@login_required
@require_POST
def request_withdraw(request, session_id, request_id):
    """The analyst withdraws a question still waiting for review."""
    approval = _own_request(user=request.user, session_id=session_id, request_id=request_id)
    try:
        approval_request_cancel(request=approval, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "You withdrew the request.")
    return redirect(_turn_url(approval))


@login_required
@require_GET
def session_notebook(request, session_id):
    session = _or_404(selectors.session_get, user=request.user, session_id=session_id)
    text = exports.session_notebook(session=session, requests=_session_requests(session))
    return _download(text, f"sandgate-{session.pk}.ipynb", "application/x-ipynb+json")


@login_required
@require_GET
def session_script(request, session_id):
    session = _or_404(selectors.session_get, user=request.user, session_id=session_id)
    text = exports.session_script(session=session, requests=_session_requests(session))
    return _download(text, f"sandgate-{session.pk}.py", "text/x-python")


def _download(text: str, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(text, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def datasets(request):
    form = DatasetUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        dataset = _upload(request, form)
        if dataset is not None:
            if dataset.status == dataset.Status.READY:
                messages.success(request, f"Uploaded {dataset.name}: {dataset.row_count} rows.")
            else:
                messages.success(request, f"Uploaded {dataset.name}; it is being profiled in the sandbox.")
            return redirect("dataset", dataset_id=dataset.pk)
    datasets = selectors.dataset_list_summary(user=request.user).select_related("team")
    rows = [(dataset, selectors.dataset_first_columns(dataset)) for dataset in datasets]
    context = {"form": form, "rows": rows}
    return render(request, "analysis/datasets.html", context, status=400 if form.errors else 200)


def _upload(request, form):
    upload = form.cleaned_data["file"]
    try:
        return dataset_upload(
            user=request.user,
            name=upload.name,
            # Never more than the size cap and one byte: enough to refuse a larger file, in bounded memory.
            content=upload.read(settings.SANDGATE_MAX_DATASET_MB * 1024 * 1024 + 1),
            allow_sample_sharing=form.cleaned_data["allow_sample_sharing"],
        )
    except ApplicationError as exc:
        form.add_error(None if exc.code == "no_team" else "file", exc.message)
        return None


@login_required
@require_GET
def dataset_detail(request, dataset_id):
    dataset = _or_404(selectors.dataset_get, user=request.user, dataset_id=dataset_id)
    return render(request, "analysis/dataset.html", _dataset_context(dataset))


@login_required
@require_GET
def dataset_status(request, dataset_id):
    """The dataset's profile; htmx polls it every second while the upload is being profiled."""
    dataset = _or_404(selectors.dataset_get, user=request.user, dataset_id=dataset_id)
    if not request.htmx:  # a person opening the fragment's address gets the whole page
        return redirect("dataset", dataset_id=dataset.pk)
    return render(request, "analysis/_dataset_profile.html", _dataset_context(dataset))


def _dataset_context(dataset) -> dict:
    ready = dataset.status == dataset.Status.READY
    return {"dataset": dataset, "preview": selectors.dataset_preview(dataset=dataset) if ready else []}


# --- error pages: friendly HTML for people, the API's JSON shape under /api/ ------------------


def _error(request, status: int, code: str, message: str, template: str):
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(code, message), status=status)
    return HttpResponse(loader.get_template(template).render({"request": request}), status=status)


@requires_csrf_token
def bad_request(request, exception=None):
    return _error(request, 400, "bad_request", "Bad request.", "400.html")


@requires_csrf_token
def permission_denied(request, exception=None):
    return _error(request, 403, "forbidden", "You do not have permission to do this.", "403.html")


@requires_csrf_token
def page_not_found(request, exception=None):
    return _error(request, 404, "not_found", "Not found.", "404.html")


@requires_csrf_token
def server_error(request):
    return _error(request, 500, "server_error", "Something went wrong on our side.", "500.html")

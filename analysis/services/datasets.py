"""Datasets: an upload checked and stored, then profiled; the console's one dataset setting (sample sharing).

A CSV is profiled in the upload's request (bounded by the size cap; see dataset_formats) and is ready at once.
XLSX, Parquet and JSON are profiled by a worker on the `execute` queue, in the sandbox, like a run: priced in
sandbox seconds, held for against the budgets before anything is stored, settled with the actual cost, and
audited whether the file is accepted (`dataset.profiled`) or refused (`dataset.refused`, the row kept in
`failed` with its reason). Each team profiles at most `SANDGATE_PROFILING_PER_TEAM` uploads at once; the
others wait in the database (`queued`) and take a slot, oldest first, when one frees.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import time
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_log, audit_log_change
from billing.models import CostSpan, Team
from billing.money import usd_text
from billing.selectors import ASKING_ROLES, team_list_for_user
from billing.services import (
    audit_budget_refusals,
    budget_reserve,
    budget_settle,
    cost_span_record_profiling,
    reservation_lease_renew,
    reservation_release,
)
from config.connections import drop_stale_connection
from config.enqueue import enqueue_on_commit
from config.exceptions import ApplicationError, Conflict, Forbidden

from .. import dataset_formats
from ..dataset_cache import dataset_local_copy
from ..dataset_formats import Profile, SandboxProfile
from ..models import Dataset
from ..selectors import dataset_preview_path
from .execution import sandbox_cost_ceiling

logger = logging.getLogger(__name__)
Action = AuditEvent.Action
Status = Dataset.Status

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,120}\.(csv|xlsx|parquet|json)$", re.IGNORECASE)
INTERRUPTED_REASON = (
    "The worker profiling this file stopped (it crashed or was restarted) before it finished. "
    "Upload the file again."
)


# --- upload -----------------------------------------------------------------------------------


def dataset_upload(
    *, user, name: str, content: bytes, allow_sample_sharing: bool = False, team_id=None
) -> Dataset:
    """An analyst's or reviewer's upload (web page or API), for one of their teams (`team_id`, else the
    first by slug)."""
    teams = team_list_for_user(user=user, roles=ASKING_ROLES).order_by("slug")
    team = (teams.filter(pk=team_id).first() if team_id else None) or teams.first()
    if team is None:
        raise Forbidden("Only analysts and reviewers of a team can upload datasets.", code="no_team")
    return dataset_create(
        team=team, name=name, content=content, user=user, allow_sample_sharing=allow_sample_sharing
    )


def _audit_upload_refusals(func):
    """Audit an upload refused before anything was stored (bad name or content, over a cap or a budget),
    after the refused transaction rolled back; the analyst got the same message as the answer."""

    @functools.wraps(func)
    def wrapper(*, team: Team, name: str, content: bytes, user=None, **kwargs):
        try:
            return func(team=team, name=name, content=content, user=user, **kwargs)
        except ApplicationError as refusal:
            with transaction.atomic():
                audit_log(
                    action=Action.DATASET_REFUSED,
                    actor=user,
                    team=team,
                    details={
                        "stage": "upload",
                        "name": name[:200],
                        "size": len(content),
                        "code": refusal.code,
                        "reason": refusal.message,
                    },
                )
            raise

    return wrapper


@_audit_upload_refusals
@audit_budget_refusals
def dataset_create(
    *, team: Team, name: str, content: bytes, user=None, allow_sample_sharing: bool = False
) -> Dataset:
    """Check and store an upload. A CSV is profiled here and is ready; any other format is held for, stored
    `queued` and handed to a worker (`dataset_profile`) as soon as its team has a free profiling slot."""
    _check_upload(team=team, name=name, content=content)
    if not dataset_formats.needs_sandbox(name):
        profile = _csv_profile(name=name, content=content)
        return _dataset_store(
            team=team, name=name, content=content, user=user, share=allow_sample_sharing, profile=profile
        )
    return _dataset_store(team=team, name=name, content=content, user=user, share=allow_sample_sharing)


def _check_upload(*, team: Team, name: str, content: bytes) -> None:
    if not SAFE_NAME.match(name):
        accepted = dataset_formats.ACCEPTED
        message = f"Dataset names are plain file names ending in {accepted}."
        raise ApplicationError(message, code="invalid_dataset")
    if len(content) > settings.SANDGATE_MAX_DATASET_MB * 1024 * 1024:
        limit = settings.SANDGATE_MAX_DATASET_MB
        raise ApplicationError(f"The file is too large: the limit is {limit} MB.", code="dataset_too_large")
    if _name_taken(team=team, name=name):
        raise _name_taken_error(name)
    try:
        dataset_formats.check_content(name=name, content=content)
    except ValueError as exc:
        raise ApplicationError(str(exc), code="invalid_dataset") from exc


def _name_taken(*, team: Team, name: str) -> bool:
    return Dataset.objects.filter(team=team, name=name).exclude(status=Status.FAILED).exists()


def _name_taken_error(name: str) -> Conflict:
    message = f"Your team already has a dataset named “{name}”; rename the file."
    return Conflict(message, code="dataset_name_taken")


def _csv_profile(*, name: str, content: bytes) -> Profile:
    try:
        return dataset_formats.profile_csv_upload(name=name, content=content)
    except ValueError as exc:
        raise ApplicationError(str(exc), code="invalid_dataset") from exc


def _dataset_store(
    *, team: Team, name: str, content: bytes, user, share: bool, profile: Profile | None = None
) -> Dataset:
    """The file (and a CSV's preview) first, then the row and its events in one transaction; a refused
    transaction (a budget, a name taken meanwhile) removes the files again."""
    dataset = Dataset(
        team=team,
        name=name,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        allow_sample_sharing=share,
        uploaded_by=user,
        status=Status.READY if profile else Status.QUEUED,
    )
    storage = dataset.file.storage
    dataset.file.save(name, ContentFile(content), save=False)
    if profile is not None:
        _profile_apply(dataset=dataset, profile=profile)
    try:
        with transaction.atomic():
            if profile is None:
                # Held at the most a profile can be charged: the sandbox at the profile's limits, full length.
                ceiling = sandbox_cost_ceiling(limits=dataset_formats.profiling_limits())
                dataset.reservation = budget_reserve(
                    team=team, user=user, feature=CostSpan.Feature.PROFILING, amount=ceiling
                )
            dataset.save()
            _audit_stored(dataset=dataset, user=user, profile=profile)
            if profile is None:
                _profiling_release(team_id=team.pk)
    except Exception as exc:
        storage.delete(dataset.file.name)
        if profile is not None:
            storage.delete(dataset_preview_path(dataset))
        if isinstance(exc, IntegrityError) and _name_taken(team=team, name=name):
            raise _name_taken_error(name) from None
        raise
    dataset.refresh_from_db(fields=["status"])
    return dataset


def _audit_stored(*, dataset: Dataset, user, profile: Profile | None) -> None:
    details = {"name": dataset.name, "sha256": dataset.sha256, "size": dataset.size, "status": dataset.status}
    if dataset.reservation is not None:
        details["held_usd"] = usd_text(dataset.reservation.amount_usd)
    audit_log(action=Action.DATASET_UPLOADED, actor=user, team=dataset.team, target=dataset, details=details)
    if profile is not None:
        audit_log(
            action=Action.DATASET_PROFILED,
            actor=user,
            team=dataset.team,
            target=dataset,
            details={"profiler": "app", "rows": profile.row_count, "columns": len(profile.columns)},
        )


def _profile_apply(*, dataset: Dataset, profile: Profile) -> None:
    """The profile on the row, and its first rows beside the file (outside what the sandbox mounts)."""
    dataset.row_count, dataset.columns = profile.row_count, profile.columns
    storage = dataset.file.storage
    path = dataset_preview_path(dataset)
    if storage.exists(path):  # a redelivered profile: the first one's preview stands
        storage.delete(path)
    storage.save(path, ContentFile(json.dumps(profile.preview).encode("utf-8")))


# --- profiling slots --------------------------------------------------------------------------


def _profiling_release(*, team_id) -> int:
    """Give the team's free profiling slots to its oldest waiting uploads and publish their tasks.

    Call it inside a transaction: the team's row lock makes concurrent uploads and finishing profiles take
    turns, so no more than SANDGATE_PROFILING_PER_TEAM of a team's uploads are ever `profiling`.
    """
    Team.objects.select_for_update().filter(pk=team_id).values_list("pk", flat=True).first()
    busy = Dataset.objects.filter(team_id=team_id, status=Status.PROFILING).count()
    free = settings.SANDGATE_PROFILING_PER_TEAM - busy
    if free <= 0:
        return 0
    waiting = Dataset.objects.filter(team_id=team_id, status=Status.QUEUED).order_by("created_at", "pk")
    ids = list(waiting.values_list("pk", flat=True)[:free])
    Dataset.objects.filter(pk__in=ids, status=Status.QUEUED).update(
        status=Status.PROFILING, enqueued_at=timezone.now()
    )
    from ..tasks import profile_dataset

    for pk in ids:
        enqueue_on_commit(profile_dataset, str(pk))  # broker down: the reaper publishes it again
    return len(ids)


@transaction.atomic
def dataset_profiling_release(*, team_id) -> int:
    """The reaper's turn at `_profiling_release` (a slot freed without a release, or the setting raised)."""
    return _profiling_release(team_id=team_id)


# --- profiling (the worker) -------------------------------------------------------------------


def dataset_profile(*, dataset_id) -> Dataset | None:
    """Profile an upload in the sandbox; runs in an `execute` worker. A redelivered task does nothing."""
    dataset = _dataset_claim(dataset_id=dataset_id)
    if dataset is None:
        return None
    logger.info("dataset %s: claimed, profiling it in the sandbox", dataset_id)
    started = time.monotonic()
    try:
        copy = dataset_local_copy(
            storage=dataset.file.storage, name=dataset.file.name, expected_sha256=dataset.sha256
        )
        if copy.path is None:
            refusal = (
                f"The stored copy of “{dataset.name}” is not the file that was uploaded (its SHA-256 "
                "differs, or it is missing); it was not profiled. Upload it again."
            )
            outcome = _no_profile(refusal=refusal, started=started)
        else:
            outcome = dataset_formats.profile_in_sandbox(name=dataset.name, host_path=str(copy.path))
    except Exception as exc:  # storage or the sandbox itself broke: the upload still must end, visibly
        logger.exception("sandbox failure profiling dataset %s", dataset_id)
        outcome = _no_profile(refusal=f"Sandgate could not profile “{dataset.name}”: {exc}", started=started)
    drop_stale_connection()  # the profile may outlast the connection
    return _dataset_profile_finish(dataset=dataset, outcome=outcome)


def _no_profile(*, refusal: str, started: float) -> SandboxProfile:
    return SandboxProfile(
        profile=None,
        refusal=refusal,
        seconds=round(time.monotonic() - started, 3),
        backend=settings.SANDBOX_BACKEND,
        memory_mb=dataset_formats.profiling_limits().memory_mb,
    )


@transaction.atomic
def _dataset_claim(*, dataset_id) -> Dataset | None:
    now = timezone.now()
    lease = now + timedelta(seconds=settings.SANDGATE_LEASE_SECONDS)
    claimed = Dataset.objects.filter(
        pk=dataset_id, status=Status.PROFILING, profiling_started_at__isnull=True
    ).update(profiling_started_at=now, lease_expires_at=lease)
    if claimed != 1:
        return None
    dataset = Dataset.objects.select_related("team", "uploaded_by").get(pk=dataset_id)
    if dataset.reservation_id:  # in the claim's transaction: the sweeper never sees a stale lease
        reservation_lease_renew(reservation_id=dataset.reservation_id)
    return dataset


@transaction.atomic
def _dataset_profile_finish(*, dataset: Dataset, outcome: SandboxProfile) -> Dataset:
    if outcome.profile is not None:
        _profile_apply(dataset=dataset, profile=outcome.profile)
    span = cost_span_record_profiling(
        team=dataset.team,
        user=dataset.uploaded_by,
        backend=outcome.backend,
        seconds=outcome.seconds,
        memory_mb=outcome.memory_mb,
    )
    if dataset.reservation_id:
        budget_settle(reservation_id=dataset.reservation_id, actual=span.cost_usd)
    ready = outcome.profile is not None
    finished = Dataset.objects.filter(pk=dataset.pk, status=Status.PROFILING).update(
        status=Status.READY if ready else Status.FAILED,
        failure_reason="" if ready else outcome.refusal,
        row_count=dataset.row_count,
        columns=dataset.columns,
        profiled_at=timezone.now(),
        lease_expires_at=None,
    )
    dataset.refresh_from_db()
    if finished == 1:
        _audit_profiled(dataset=dataset, outcome=outcome, cost=span.cost_usd)
        _profiling_release(team_id=dataset.team_id)
    return dataset


def _audit_profiled(*, dataset: Dataset, outcome: SandboxProfile, cost: Decimal) -> None:
    details = {
        "name": dataset.name,
        "sha256": dataset.sha256,
        "profiler": "sandbox",
        "backend": outcome.backend,
        "seconds": outcome.seconds,
        "cost_usd": usd_text(cost),
    }
    if dataset.status == Status.READY:
        details.update(rows=dataset.row_count, columns=len(dataset.columns))
        action = Action.DATASET_PROFILED
    else:
        details.update(stage="profile", reason=dataset.failure_reason)
        action = Action.DATASET_REFUSED
    audit_log(action=action, team=dataset.team, target=dataset, details=details)


# --- the reaper's part ------------------------------------------------------------------------


@transaction.atomic
def dataset_profiling_interrupt(*, dataset_id, now) -> int:
    """A profile whose lease expired (its worker died) ends `failed`, its hold released; never re-run."""
    interrupted = Dataset.objects.filter(
        pk=dataset_id, status=Status.PROFILING, lease_expires_at__lt=now
    ).update(status=Status.FAILED, failure_reason=INTERRUPTED_REASON, profiled_at=now)
    if interrupted != 1:
        return 0
    dataset = Dataset.objects.select_related("team").get(pk=dataset_id)
    released = reservation_release(reservation_id=dataset.reservation_id) if dataset.reservation_id else False
    details = {
        "name": dataset.name,
        "stage": "interrupted",
        "reason": INTERRUPTED_REASON,
        "lease_expired_at": dataset.lease_expires_at.isoformat(),
        "reservation_released": released,
    }
    audit_log(action=Action.DATASET_REFUSED, team=dataset.team, target=dataset, details=details)
    _profiling_release(team_id=dataset.team_id)
    return 1


# --- the console ------------------------------------------------------------------------------


@transaction.atomic
def dataset_sharing_set(*, dataset: Dataset, actor, allow_sample_sharing: bool) -> Dataset:
    """Whether a few sample rows go to the LLM: the one dataset setting the console changes, audited."""
    dataset = Dataset.objects.select_for_update().select_related("team").get(pk=dataset.pk)
    before = {"allow_sample_sharing": dataset.allow_sample_sharing}
    dataset.allow_sample_sharing = allow_sample_sharing
    dataset.save(update_fields=["allow_sample_sharing"])
    audit_log_change(
        action=Action.DATASET_CHANGED,
        actor=actor,
        team=dataset.team,
        target=dataset,
        before=before,
        after={"allow_sample_sharing": allow_sample_sharing},
        details={"name": dataset.name},
    )
    return dataset

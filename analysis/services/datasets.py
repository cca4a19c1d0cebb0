"""Datasets: an upload validated, profiled (XLSX, Parquet and JSON inside the sandbox) and stored; the
console's one dataset setting (sample sharing)."""

from __future__ import annotations

import hashlib
import json
import re

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from audit.models import AuditEvent
from audit.services import audit_log, audit_log_change
from billing.models import Team
from config.exceptions import ApplicationError, Conflict

from .. import dataset_formats
from ..models import Dataset
from ..selectors import dataset_preview_path

Action = AuditEvent.Action


SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,120}\.(csv|xlsx|parquet|json)$", re.IGNORECASE)


def dataset_create(
    *, team: Team, name: str, content: bytes, user=None, allow_sample_sharing: bool = False
) -> Dataset:
    """Validate, profile (XLSX/Parquet/JSON inside the sandbox, before any transaction), then store."""
    if not SAFE_NAME.match(name):
        accepted = dataset_formats.ACCEPTED
        message = f"Dataset names are plain file names ending in {accepted}."
        raise ApplicationError(message, code="invalid_dataset")
    if len(content) > settings.SANDGATE_MAX_DATASET_MB * 1024 * 1024:
        limit = settings.SANDGATE_MAX_DATASET_MB
        raise ApplicationError(f"The file is too large: the limit is {limit} MB.", code="dataset_too_large")
    if Dataset.objects.filter(team=team, name=name).exists():
        message = f"Your team already has a dataset named “{name}”; rename the file."
        raise Conflict(message, code="dataset_name_taken")
    try:
        dataset_formats.check_content(name=name, content=content)
        profile = dataset_formats.profile(name=name, content=content)
    except ValueError as exc:
        raise ApplicationError(str(exc), code="invalid_dataset") from exc
    with transaction.atomic():
        return _dataset_store(
            team=team, name=name, content=content, user=user, profile=profile, share=allow_sample_sharing
        )


def _dataset_store(*, team: Team, name: str, content: bytes, user, profile, share: bool) -> Dataset:
    row_count, columns = profile.row_count, profile.columns
    dataset = Dataset(
        team=team,
        name=name,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        row_count=row_count,
        columns=columns,
        allow_sample_sharing=share,
        uploaded_by=user,
    )
    dataset.file.save(name, ContentFile(content), save=False)
    dataset.file.storage.save(dataset_preview_path(dataset), ContentFile(json.dumps(profile.preview)))
    dataset.save()
    audit_log(
        action=Action.DATASET_UPLOADED,
        actor=user,
        team=team,
        target=dataset,
        details={"name": name, "sha256": dataset.sha256, "size": dataset.size},
    )
    return dataset


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

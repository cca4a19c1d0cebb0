"""The files a run wrote to /output: stored with the run, downloaded (audited)."""

from __future__ import annotations

import mimetypes

from django.core.files.base import ContentFile
from django.db import transaction

from audit.models import AuditEvent
from audit.services import audit_log
from config.exceptions import NotFound

from ..models import Artifact, Execution
from ..sandboxes.base import SandboxResult
from ..selectors import execution_get

Action = AuditEvent.Action


def artifacts_store(*, execution: Execution, result: SandboxResult) -> None:
    for produced in result.artifacts:
        artifact = Artifact(
            execution=execution,
            name=produced.name,
            size=len(produced.content),
            sha256=produced.sha256,
            content_type=mimetypes.guess_type(produced.name)[0] or "application/octet-stream",
        )
        artifact.file.save(produced.name, ContentFile(produced.content), save=False)
        artifact.save()


@transaction.atomic
def artifact_download(*, user, execution_id, name: str) -> Artifact:
    """An artifact of an execution the user may see; every download is audited."""
    execution = execution_get(user=user, execution_id=execution_id)
    artifact = Artifact.objects.filter(execution=execution, name=name).first()
    if artifact is None:
        raise NotFound("Artifact not found.")
    audit_log(
        action=Action.ARTIFACT_DOWNLOADED,
        actor=user,
        team=execution.request.team,
        target=execution,
        details={"name": artifact.name, "sha256": artifact.sha256, "size": artifact.size},
    )
    return artifact

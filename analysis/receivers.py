"""What analysis does when approvals announces a change (approvals.signals); connected in its AppConfig.

approvals never imports analysis: what spans both apps lives here, and each receiver calls the analysis
service that owns the work, inside the transaction of the change announced.
"""

from dataclasses import asdict

from django.dispatch import receiver

from approvals.signals import request_approved, request_revised, run_limits_wanted

from .services.execution import execution_limits, execution_start_on_approval
from .services.generation import request_regenerate


@receiver(run_limits_wanted, dispatch_uid="analysis.run_limits")
def _run_limits(sender, *, request, **kwargs) -> dict:
    return asdict(execution_limits(team=request.team))


@receiver(request_approved, dispatch_uid="analysis.run_on_approval")
def _run_on_approval(sender, *, request, reviewer, **kwargs) -> None:
    execution_start_on_approval(request=request, reviewer=reviewer)


@receiver(request_revised, dispatch_uid="analysis.regenerate")
def _regenerate(sender, *, revision, feedback, asked_by_analyst=False, **kwargs) -> None:
    request_regenerate(revision=revision, feedback=feedback, asked_by_analyst=asked_by_analyst)

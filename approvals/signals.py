"""What approvals tells the apps above it. approvals never imports them: they connect receivers (analysis
connects its own in `AnalysisConfig.ready`, see analysis/receivers.py). Every signal is sent inside the
transaction of the change it announces, so what the receivers write commits or rolls back with it."""

from django.dispatch import Signal

# Asks for the sandbox limits a run of `request` would get, which an approval binds: exactly one receiver
# answers with them as a dict.
run_limits_wanted = Signal()

# `request` was approved by `reviewer` (the last vote of its quorum).
request_approved = Signal()

# `revision` is the new version asked for after a rejection, with its `feedback`; `asked_by_analyst` says
# whether the request's analyst asked again (else a reviewer did).
request_revised = Signal()

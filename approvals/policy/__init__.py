"""The static policy check: what a script imports, calls, reads and writes, found by walking its AST.

Pure functions of the code and a `PolicyConfig` (no database here; `selectors.policy_config` builds the
config from the admin-editable `PolicyRule` rows). A check never runs the code. It is an allow-list: code
rates low only when every name it uses is known to be safe (check.py), the names of the analysis modules
coming from the sandbox runtime itself (allowlist.py). It cannot prove a script safe — the sandbox does the
containing — but it never calls code it does not understand "low", and it tells the reviewer where to look.
"""

from .allowlist import AllowListError
from .check import policy_check
from .describe import describe_code
from .rules import (
    CRITICAL,
    DEFAULT_ALLOWED_MODULES,
    HIGH,
    LOW,
    MEDIUM,
    NOT_UNDERSTOOD_RULES,
    RULES,
    RULES_BY_CODE,
    SEVERITY_ORDER,
    Finding,
    PolicyConfig,
    PolicyResult,
    Rule,
    at_least,
    module_allowed,
)

__all__ = [
    "CRITICAL", "DEFAULT_ALLOWED_MODULES", "HIGH", "LOW", "MEDIUM", "NOT_UNDERSTOOD_RULES", "RULES",
    "RULES_BY_CODE", "SEVERITY_ORDER", "AllowListError", "Finding", "PolicyConfig", "PolicyResult", "Rule",
    "at_least", "describe_code", "module_allowed", "policy_check",
]  # fmt: skip

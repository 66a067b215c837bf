"""Circuit breakers (decisions.md, "Host circuit breaker"):

- 5 consecutive connection failures to one SMTP host open its circuit for 5 minutes (no mailbox on that host
  is tried meanwhile). After the pause one attempt is let through; if it fails too the circuit opens again at
  once (the count is not reset by opening), a success closes it.
- 10 consecutive authentication failures of one mailbox disable its sending: it is reported to the mailbox health
  helper (kindling.sending.mailbox_health), which marks it `disconnected` (or `error` if it never worked).

Pure transitions over small values the caller stores (per host, per mailbox).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

HOST_FAILURE_THRESHOLD = 5
HOST_OPEN_FOR = timedelta(minutes=5)
AUTH_FAILURE_THRESHOLD = 10


def host_key(smtp_host: str) -> str:
    """Hosts are compared case-insensitively and without a trailing dot."""
    return smtp_host.strip().lower().rstrip(".")


@dataclass(frozen=True)
class HostCircuit:
    consecutive_failures: int = 0
    open_until: datetime | None = None

    def is_open(self, now: datetime) -> bool:
        return self.open_until is not None and now < self.open_until


def on_connection_failure(state: HostCircuit, now: datetime) -> HostCircuit:
    failures = state.consecutive_failures + 1
    if failures >= HOST_FAILURE_THRESHOLD:
        return HostCircuit(failures, now + HOST_OPEN_FOR)
    return HostCircuit(failures, state.open_until)


def on_connection_success(state: HostCircuit) -> HostCircuit:
    return HostCircuit()


def observe_host(state: HostCircuit, *, connected: bool, now: datetime) -> HostCircuit:
    """Fold one session into the host's circuit. `connected`: TCP, TLS and the greeting succeeded; any answer
    from the server after that (even a refusal) proves the host reachable."""
    return on_connection_success(state) if connected else on_connection_failure(state, now)


@dataclass(frozen=True)
class AuthGuard:
    consecutive_failures: int = 0

    @property
    def disable_mailbox(self) -> bool:
        """Has the mailbox reached the threshold, so that it must be reported as failing (`auth_failed`)?"""
        return self.consecutive_failures >= AUTH_FAILURE_THRESHOLD


def observe_auth(state: AuthGuard, *, authenticated: bool | None) -> AuthGuard:
    """Fold one session's login into the mailbox's count: a refusal counts up, a success resets, and a session
    that never reached AUTH (None: no connection) leaves the count alone."""
    if authenticated is None:
        return state
    return AuthGuard() if authenticated else AuthGuard(state.consecutive_failures + 1)

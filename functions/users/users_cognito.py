"""The users function's Cognito post-authentication trigger: records the sign-in time and the
verified address (users_queries.record_login) within Cognito's 5 s budget.
"""

from __future__ import annotations

import threading
from typing import Any

from users_queries import record_login

from shared.identity import UUID_RE, verified_email
from shared.observability import MetricUnit, logger, metrics

# Cognito waits 5 s for a trigger and fails the sign-in after that; the
# last_login_at update gets this long, then sign-in proceeds without it.
LOGIN_UPDATE_BUDGET_SECONDS = 2.0


def _run_bounded(work: Any, arg: str, budget: float) -> str:
    """Run work(arg) on a helper thread for at most `budget` seconds.

    Returns "ok", "failed" or "timeout". A hung database must not hold the
    sign-in past Cognito's 5 s limit; the helper thread finishes (or fails on
    its socket timeout) on its own.
    """
    outcome = ["timeout"]
    done = threading.Event()

    def run() -> None:
        try:
            work(arg)
            outcome[0] = "ok"
        except Exception:  # noqa: BLE001 - sign-in must never fail because of this
            outcome[0] = "failed"
            logger.exception("could not record the sign-in time", extra={"user_id": arg})
        finally:
            done.set()

    threading.Thread(target=run, name="record-login", daemon=True).start()
    done.wait(budget)
    return outcome[0]


def on_cognito_event(event: dict[str, Any], context: Any) -> Any:
    """Post-authentication: set last_login_at and the verified address, then hand the event back unchanged.

    User attributes are strings here as in HTTP API claims: `email_verified` is "true"
    once the user proved the address. With AttributesRequireVerificationBeforeUpdate
    the pool keeps the old address until the new one is verified, so a changed
    address reaches the database at the first sign-in after its verification.
    """
    trigger = event.get("triggerSource")
    if not isinstance(trigger, str):
        return NotImplemented
    if not trigger.startswith("PostAuthentication_"):
        logger.warning("ignoring an unexpected Cognito trigger", extra={"trigger": trigger})
        return event
    attributes = (event.get("request") or {}).get("userAttributes") or {}
    sub = attributes.get("sub")
    if not isinstance(sub, str) or not UUID_RE.match(sub):
        logger.warning("post-authentication event without a usable sub; last_login_at not updated")
        return event
    remaining = (
        context.get_remaining_time_in_millis() / 1000 - 0.5 if context is not None else LOGIN_UPDATE_BUDGET_SECONDS
    )
    email = verified_email(attributes)
    outcome = _run_bounded(
        lambda user_id: record_login(user_id, email),
        sub.lower(),
        max(0.1, min(LOGIN_UPDATE_BUDGET_SECONDS, remaining)),
    )
    if outcome != "ok":
        metrics.add_metric(name="LastLoginNotRecorded", unit=MetricUnit.Count, value=1)
        if outcome == "timeout":
            logger.warning("recording the sign-in time took too long; sign-in continues", extra={"user_id": sub})
    return event

"""Handlers run in threads by the concurrency tests: Powertools' per-request state made per thread.

The resolver stores the current event on its base class (`BaseRouter.current_event`) and the
matched route in `app.context`: one request at a time per process. That is all Lambda ever does
(one request per execution environment), so the shipped layer does not patch anything; the
concurrency tests run handlers of one process in threads, where a request would read another
one's identity. `thread_safe` sends those reads to thread-local state. It relies on private names
of aws-lambda-powertools (`_to_proxy_event`, `processed_stack_frames`), pinned in constraints.txt.
"""

from __future__ import annotations

import threading
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver


class _RequestState(threading.local):
    def __init__(self) -> None:
        self.event: Any = None
        self.lambda_context: Any = None
        self.context: dict[str, Any] = {}
        self.frames: list[str] = []


def thread_safe(app: APIGatewayHttpResolver) -> APIGatewayHttpResolver:
    """Keep Powertools' per-request state per thread.

    The resolver stores the current event on its base class
    (`BaseRouter.current_event`) and the matched route in `app.context`: one
    request at a time per process. That is all Lambda ever does, but the local
    stack and the concurrency tests run handlers in threads, where a request
    would read another one's identity. Reads go to thread-local state instead;
    in Lambda (one request at a time) nothing changes.
    """
    state = _RequestState()
    base = type(app)

    def resolve(self: Any, event: Any, context: Any) -> Any:
        state.event = self._to_proxy_event(event)
        state.lambda_context = context
        return base.resolve(self, event, context)

    def set_context(self: Any, value: dict[str, Any]) -> None:
        state.context = value

    app.__class__ = type(
        "ThreadSafe" + base.__name__,
        (base,),
        {
            "resolve": resolve,
            "current_event": property(lambda self: state.event),
            "lambda_context": property(lambda self: state.lambda_context),
            "context": property(lambda self: state.context, set_context),
            "processed_stack_frames": property(lambda self: state.frames, lambda self, v: None),
        },
    )
    return app

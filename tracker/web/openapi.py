"""What the OpenAPI description says beyond the handlers' signatures: the webhook's body, the
error answers each endpoint can give, and the API-key scheme."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Components,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
    SecurityScheme,
)


class Problem(msgspec.Struct):
    """Every 4xx and 5xx answer."""

    status_code: int
    detail: str


PROBLEMS = {
    400: "The request is not one the endpoint can answer (the detail says why)",
    401: "An API key is needed (only when TRACKER_API_KEYS is set)",
    403: "The key's role may not use this, or the sender's address is not allowed",
    404: "Nothing is known under this name",
    408: "The headers or the body came too slowly (TRACKER_HEADER_TIMEOUT, "
    "TRACKER_BODY_TIMEOUT); nothing was stored",
    409: "A rebuild is already running",
    413: "The body is larger than TRACKER_MAX_BODY_BYTES; nothing was stored",
    503: "The store is unavailable, or did not confirm a batch as stored; nothing is acknowledged. "
    "Try again after Retry-After seconds",
}


def problems(*codes: int) -> dict[int, ResponseSpec]:
    return {
        code: ResponseSpec(Problem, description=PROBLEMS[code], generate_examples=False)
        for code in codes
    }


KEYED = (401, 403, 503)  # every endpoint behind API keys can answer these
API_KEY = [{"apiKey": []}]
COMPONENTS = Components(
    security_schemes={
        "apiKey": SecurityScheme(
            type="http",
            scheme="bearer",
            description="An API key from TRACKER_API_KEYS (when it is set), as a Bearer token "
            "or in an X-API-Key header.",
        )
    }
)

_ID = Schema(
    one_of=[
        Schema(type=OpenAPIType.INTEGER, minimum=0, maximum=2**63 - 1),
        Schema(type=OpenAPIType.STRING, pattern="^[0-9]+$"),
    ],
    description="The message's id, a number or a string of digits; echoed back in its own type.",
)
_STATUS = Schema(
    type=OpenAPIType.OBJECT,
    properties={
        "id_sms": _ID,
        "time": Schema(
            type=OpenAPIType.STRING,
            description="'YYYY-MM-DD HH:MM:SS' in the platform's zone, or '' when unknown",
        ),
        "state": Schema(
            type=OpenAPIType.STRING,
            description="send, deliver, read, not_deliver, expired, ... (unknown states are kept)",
        ),
    },
    description="A delivery status. An item without a usable id_sms is quarantined, not refused.",
)
WEBHOOK_BODY = RequestBody(
    required=True,
    description="A JSON array of statuses, whatever the Content-Type says (the platform sends "
    "text/json). Any other body gets 400 and is quarantined whole; an item that is not a "
    "status is quarantined and the rest of the batch is stored.",
    content={
        "application/json": OpenAPIMediaType(
            # Any item is taken (quarantined if it names no message), so the schema admits any.
            schema=Schema(type=OpenAPIType.ARRAY, items=Schema(any_of=[_STATUS, Schema()]))
        )
    },
)
WEBHOOK_ANSWER = OpenAPIMediaType(
    schema=Schema(
        type=OpenAPIType.ARRAY,
        items=Schema(type=OpenAPIType.OBJECT, properties={"id_sms": _ID}, required=["id_sms"]),
        description="The ids stored, each as it was sent; every other item is sent again later",
    )
)
_TEXT = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))


@dataclass
class WebhookOperation(Operation):
    """The webhook reads its body itself, item by item; this says what it takes and answers."""

    def __post_init__(self) -> None:
        self.request_body = WEBHOOK_BODY
        _answer(self, {"application/json": WEBHOOK_ANSWER})


@dataclass
class ExportOperation(Operation):
    """An export answers CSV or JSON Lines, as ?format= asks."""

    def __post_init__(self) -> None:
        _answer(self, {"text/csv": _TEXT, "application/jsonl": _TEXT})


@dataclass
class MetricsOperation(Operation):
    """Prometheus's text exposition format."""

    def __post_init__(self) -> None:
        _answer(self, {"text/plain": _TEXT})


def _answer(operation: Operation, content: dict[str, OpenAPIMediaType]) -> None:
    ok = (operation.responses or {}).get("200")
    if ok is not None:
        ok.content = content  # type: ignore[union-attr]

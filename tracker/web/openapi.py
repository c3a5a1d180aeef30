"""The OpenAPI description beyond the handlers' signatures (tracker/web/api_page.py shows it).

What it adds: the webhook's body, the error answers each endpoint can give, the API-key scheme.
"""

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
    409: "A rebuild is already running; the change view lacks the changes asked for; or a "
    "recorded request whose body was kept only in part (truncated, incomplete) cannot be "
    "replayed (the detail says which)",
    410: "The recorded request's body is no longer kept (TRACKER_REQUEST_LOG_KEEP, "
    "TRACKER_REQUEST_LOG_MAX_BYTES): it cannot be replayed",
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
    "text/json); or, when the body begins with '<', the platform's XML webhook: a <response> "
    'of <state id_sms="..." time="..." sms="..." viber="...">state</state> '
    "elements (no DTD), answered in XML. Any other body gets 400 and is quarantined whole; an "
    "item that is not a status is quarantined and the rest of the batch is stored.",
    content={
        "application/json": OpenAPIMediaType(
            # Any item is taken (quarantined if it names no message), so the schema admits any.
            schema=Schema(type=OpenAPIType.ARRAY, items=Schema(any_of=[_STATUS, Schema()]))
        ),
        "text/xml": OpenAPIMediaType(
            schema=Schema(
                type=OpenAPIType.STRING,
                description='<response><state id_sms="3234" time="2011-01-01 12:57:46" '
                'sms="deliver">deliver</state></response>',
            )
        ),
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
# One Server-Sent Event of the change stream (a validator reads each event against it).
_EVENT = OpenAPIMediaType(
    schema=Schema(
        type=OpenAPIType.OBJECT,
        properties={
            "id": Schema(type=OpenAPIType.STRING, description="The change's position."),
            "data": Schema(
                type=OpenAPIType.STRING,
                content_media_type="application/json",
                description="The change as JSON: an object of GET /changes' changes.",
            ),
        },
    )
)
_TEXT_VALUE = Schema(type=OpenAPIType.STRING, min_length=1, max_length=64)
_REGISTRATION = Schema(
    type=OpenAPIType.OBJECT,
    properties={
        "id_sms": _ID,
        "sent_at": Schema(
            type=OpenAPIType.STRING,
            description="When it was sent: ISO 8601 (RFC 3339) with an offset or Z, or "
            "'YYYY-MM-DD HH:MM:SS' in TRACKER_TIMEZONE",
        ),
        "sender": _TEXT_VALUE,
        "campaign": _TEXT_VALUE,
        "channel": _TEXT_VALUE,
        "parts": Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=255),
    },
    required=["id_sms"],
    description="What was sent. The first registration of a message stands; a different one "
    "later is recorded as a conflict; one with a value that cannot be read is recorded as "
    "rejected, with the reason. An item without a usable id_sms is quarantined.",
)
REGISTRATION_BODY = RequestBody(
    required=True,
    description="A JSON array of registrations (docs/registration.md). Any other body gets 400 "
    "and is quarantined whole.",
    content={
        "application/json": OpenAPIMediaType(
            schema=Schema(type=OpenAPIType.ARRAY, items=Schema(any_of=[_REGISTRATION, Schema()]))
        )
    },
)
WEBHOOK_XML_ANSWER = OpenAPIMediaType(
    schema=Schema(
        type=OpenAPIType.STRING,
        description="An XML body's answer: <response><id_sms>3234</id_sms>...</response>, the ids "
        "stored, each as its attribute's text",
    )
)


@dataclass
class WebhookOperation(Operation):
    """The webhook reads its body itself, item by item; this says what it takes and answers."""

    def __post_init__(self) -> None:
        self.request_body = WEBHOOK_BODY
        _answer(self, {"application/json": WEBHOOK_ANSWER, "text/xml": WEBHOOK_XML_ANSWER})


@dataclass
class RegistrationOperation(Operation):
    """POST /messages/sent reads its body itself, item by item, as the webhook does."""

    def __post_init__(self) -> None:
        self.request_body = REGISTRATION_BODY
        _answer(self, {"application/json": WEBHOOK_ANSWER})


@dataclass
class ReplayOperation(Operation):
    """A replay answers what the webhook answers its recorded body (JSON or XML)."""

    def __post_init__(self) -> None:
        _answer(self, {"application/json": WEBHOOK_ANSWER, "text/xml": WEBHOOK_XML_ANSWER})


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


@dataclass
class StreamOperation(Operation):
    """Server-Sent Events (the change stream)."""

    def __post_init__(self) -> None:
        _answer(self, {"text/event-stream": _EVENT})


def _answer(operation: Operation, content: dict[str, OpenAPIMediaType]) -> None:
    ok = (operation.responses or {}).get("200")
    if ok is not None:
        ok.content = content  # type: ignore[union-attr]

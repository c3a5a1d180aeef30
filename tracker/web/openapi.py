"""The OpenAPI description beyond the handlers' signatures, and /schema, the page showing it.

What it adds: the webhook's body, the error answers each endpoint can give, the API-key scheme.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import Request, Router
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, YamlRenderPlugin
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
        _answer(self, {"text/event-stream": _TEXT})


def _answer(operation: Operation, content: dict[str, OpenAPIMediaType]) -> None:
    ok = (operation.responses or {}).get("200")
    if ok is not None:
        ok.content = content  # type: ignore[union-attr]


# --- /schema: the API described on a page of our own --------------------------------------------

METHODS = ("get", "post", "put", "patch", "delete")


@dataclass
class Shape:
    """A JSON schema as the API page shows it: a line saying its type, and an object's fields."""

    kind: str  # integer, string, array, object, any, or a component's name (with ref)
    ref: str | None = None  # the component it names: a link to its section
    notes: list[str] = field(default_factory=list)  # constraints: minimum, pattern, format, enum
    description: str | None = None
    fields: list[Field] = field(default_factory=list)  # an object's properties
    items: Shape | None = None  # an array's items
    choices: list[Shape] = field(default_factory=list)  # one of / any of these


@dataclass
class Field:
    name: str
    required: bool
    shape: Shape


@dataclass
class Parameter:
    name: str
    where: str  # path, query, header, cookie
    required: bool
    shape: Shape
    description: str | None


@dataclass
class Answer:
    status: str
    description: str
    content: dict[str, Shape]  # by media type


@dataclass
class Endpoint:
    method: str
    path: str
    anchor: str
    summary: str
    description: str | None
    keyed: bool  # behind an API key when TRACKER_API_KEYS is set
    parameters: list[Parameter]
    body: tuple[str | None, dict[str, Shape]] | None  # its description, its content by media type
    answers: list[Answer]


@dataclass
class ApiDocument:
    title: str
    version: str
    endpoints: list[Endpoint]
    schemas: dict[str, Shape]
    security: dict[str, str]  # scheme name: what it takes


def api_document(schema: dict[str, Any]) -> ApiDocument:
    """The OpenAPI document as the page lists it: every endpoint with its parameters, body and
    answers, then every named schema with its fields."""
    components = schema.get("components", {})
    endpoints = [
        _endpoint(method, path, operation)
        for path, operations in schema.get("paths", {}).items()
        for method, operation in operations.items()
        if method in METHODS
    ]
    return ApiDocument(
        title=schema.get("info", {}).get("title", "API"),
        version=schema.get("info", {}).get("version", ""),
        endpoints=endpoints,
        schemas={name: shape(s) for name, s in sorted(components.get("schemas", {}).items())},
        security={
            name: s.get("description") or s.get("type", "")
            for name, s in components.get("securitySchemes", {}).items()
        },
    )


def _endpoint(method: str, path: str, operation: dict[str, Any]) -> Endpoint:
    body = operation.get("requestBody")
    return Endpoint(
        method=method.upper(),
        path=path,
        anchor=f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
        summary=operation.get("summary") or "",
        description=(operation.get("description") or "").replace("``", "") or None,
        keyed=bool(operation.get("security")),
        parameters=[
            Parameter(
                name=p["name"],
                where=p.get("in", ""),
                required=bool(p.get("required")),
                shape=shape(p.get("schema", {})),
                description=p.get("description") or p.get("schema", {}).get("description"),
            )
            for p in operation.get("parameters", [])
        ],
        body=(body.get("description"), _content(body)) if body else None,
        answers=[
            Answer(status, a.get("description", ""), _content(a))
            for status, a in sorted(operation.get("responses", {}).items())
        ],
    )


def _content(part: dict[str, Any]) -> dict[str, Shape]:
    return {media: shape(m.get("schema", {})) for media, m in part.get("content", {}).items()}


def shape(schema: dict[str, Any]) -> Shape:
    """One JSON schema, named components by reference (a link), never expanded in place."""
    description = schema.get("description")
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return Shape(name, ref=name, description=description)
    choices = schema.get("oneOf") or schema.get("anyOf")
    if choices:
        return Shape("", choices=[shape(c) for c in choices], description=description)
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        return Shape("", choices=[shape({**schema, "type": k}) for k in kind])
    notes = [f"{key} {schema[key]}" for key in ("format", "pattern") if key in schema]
    notes += [f"{word} {schema[key]}" for key, word in _BOUNDS if key in schema]
    if "enum" in schema:
        notes.append("one of " + ", ".join(str(v) for v in schema["enum"]))
    if "default" in schema:
        notes.append(f"default {schema['default']}")
    required = set(schema.get("required", ()))
    return Shape(
        kind,
        notes=notes,
        description=description,
        fields=[
            Field(name, name in required, shape(s))
            for name, s in schema.get("properties", {}).items()
        ],
        items=shape(schema["items"]) if "items" in schema else None,
    )


_BOUNDS = (
    ("minimum", "at least"),
    ("maximum", "at most"),
    ("minLength", "at least characters:"),
    ("maxLength", "at most characters:"),
)


class ApiPage(OpenAPIRenderPlugin):
    """/schema: the OpenAPI document as a page of the console's own, made on the server with
    its stylesheet, no script and nothing from another origin (Litestar's pages load Redoc,
    Swagger UI and fonts from CDNs: blank on a host with no internet, a third party's script on
    our origin). The document is the same for the process's life, so the page is made once."""

    def __init__(self) -> None:
        super().__init__(path="/")
        self._page: bytes | None = None

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        if self._page is None:
            template = request.app.template_engine.get_template("api.html")
            self._page = template.render(
                api=api_document(openapi_schema),
                json_url=self.get_openapi_json_route(request),
                path=request.url.path,
            ).encode()
        return self._page


def renderers() -> list[OpenAPIRenderPlugin]:
    """What /schema serves: the page, and the document as JSON and as YAML."""
    return [ApiPage(), JsonRenderPlugin(), YamlRenderPlugin()]


def schema_router(headers: dict[str, str]) -> Router:
    """The router /schema's pages hang on, sending the console's headers (its CSP) with each."""
    return Router("/schema", route_handlers=[], include_in_schema=False, response_headers=headers)

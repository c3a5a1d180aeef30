"""/schema: the OpenAPI document shown as a page of the console's own, and as JSON and YAML."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Router
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, YamlRenderPlugin

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

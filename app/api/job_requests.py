"""What a job request carries: JSON naming the source (`"source": "s3://..."`), or the media itself.

`POST /v1/jobs/verify`, `/v1/jobs/sign` and `/v1/jobs/rendition` take either body, told apart by Content-Type:

- `application/json`: the request model (VerifyJobRequest / SignJobRequest / RenditionJobRequest), read with a size and
  a nesting cap (app/api/json_body.py) and validated like any FastAPI body (422 validation_error
  on a wrong field);
- `multipart/form-data`: the media in the `file` field and the same fields as form fields, minus
  `source` (a list field, a rendition job's `action`, once per value). The file is spooled and hashed as it arrives (app/api/uploads.py), bounded by
  ORIGINMARK_JOBS_MAX_UPLOAD_BYTES (413 past it), sniffed (415 for what no engine reads), and
  later staged in originmark's own objects as the job's source (app/jobs/staging.py).

Anything else is 415, naming both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, get_origin

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from python_multipart.multipart import parse_options_header

from app.api.error_responses import malformed_body, unsupported_content_type, unsupported_media
from app.api.identifiers import form_flag
from app.api.json_body import read_json_bytes
from app.api.routes.verify import VERIFIABLE_FORMAT_NAMES
from app.api.uploads import FormSpec, ReceivedFile, UploadSpool, receive_form, refuse_query_parameters
from app.settings import Settings
from verifier.media_type import sniff_media_type

MAX_JSON_BYTES = 64 * 1024  # a job request is a few short fields
UPLOADED = "(uploaded)"  # the model's `source` while the upload is not staged yet (never stored)

Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRequest(Generic[Model]):
    body: Model
    upload: ReceivedFile | None  # the media sent in the request (multipart); None: body.source names it


def form_spec(model: type[BaseModel]) -> FormSpec:
    """The multipart fields a job model takes: its fields but `source`, plus the `file`; a list field
    (a rendition job's `action`) is sent once per value."""
    fields = frozenset(model.model_fields) - {"source"}
    return FormSpec(
        file_fields=frozenset({"file"}),
        text_fields=fields,
        repeatable_text_fields=frozenset(name for name in fields if _is_list(model, name)),
    )


def openapi_request_body(model: type[BaseModel]) -> dict[str, Any]:
    """Both bodies in the OpenAPI document (FastAPI describes only the JSON one by itself)."""
    schema = model.model_json_schema()
    form = {
        "type": "object",
        "required": ["file", *(name for name in schema.get("required", []) if name != "source")],
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "The media itself, instead of `source`."},
            **{name: _form_schema(model, name) for name in model.model_fields if name != "source"},
        },
    }
    return {
        "required": True,
        "content": {"application/json": {"schema": schema}, "multipart/form-data": {"schema": form}},
    }


async def read_job_request(
    request: Request, model: type[Model], *, spool: UploadSpool, settings: Settings
) -> JobRequest[Model]:
    await refuse_query_parameters(request, max_bytes=settings.jobs_max_upload_bytes)
    kind, _options = parse_options_header(request.headers.get("content-type") or "")
    if kind == b"multipart/form-data":
        form = await receive_form(request, spec=form_spec(model), spool=spool, max_bytes=settings.jobs_max_upload_bytes)
        upload = form.required_file("file")
        if sniff_media_type(upload.head) is None:
            raise unsupported_media(
                "the file is not a media type originmark can sign or verify", supported=VERIFIABLE_FORMAT_NAMES
            )
        values: dict[str, str | bool | list[str]] = {**_form_values(model, form.fields), "source": UPLOADED}
        values.update((name, list(texts)) for name, texts in form.repeated.items())
        return JobRequest(body=_validated(model, values), upload=upload)
    if kind == b"application/json":
        raw = await read_json_bytes(request, max_bytes=MAX_JSON_BYTES)
        return JobRequest(body=_validated_json(model, raw), upload=None)
    raise unsupported_content_type(
        "send JSON naming the source (application/json) or the media itself (multipart/form-data, field 'file')",
        supported=("application/json", "multipart/form-data"),
    )


def _form_values(model: type[BaseModel], fields: Mapping[str, str]) -> dict[str, str | bool]:
    """Form fields as the model takes them: a yes-or-no field by the one rule of every form
    (`true`/`false` exactly, app/api/identifiers.form_flag), not pydantic's lax reading of `yes`/`1`."""
    return {name: form_flag(value, name) if _is_flag(model, name) else value for name, value in fields.items()}


def _form_schema(model: type[BaseModel], name: str) -> dict[str, Any]:
    if _is_list(model, name):
        return {"type": "array", "items": {"type": "string"}, "description": "Send the field once per value."}
    return {"type": "string"}


def _is_list(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields.get(name)
    return field is not None and get_origin(field.annotation) is list


def _is_flag(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields.get(name)
    return field is not None and field.annotation is bool


def _validated_json(model: type[Model], raw: bytes) -> Model:
    if not raw.strip():
        raise malformed_body("the request has no body: send the job as JSON")
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        # The same 422 (or 400 for broken JSON) as a FastAPI-declared body: app/api/error_responses.py.
        raise RequestValidationError(_body_errors(error)) from None


def _validated(model: type[Model], fields: dict[str, str | bool | list[str]]) -> Model:
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        raise RequestValidationError(_body_errors(error)) from None


def _body_errors(error: ValidationError) -> list[dict[str, Any]]:
    return [{**problem, "loc": ("body", *problem.get("loc", ()))} for problem in error.errors(include_input=False)]

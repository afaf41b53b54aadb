"""Object-store errors become the documented HTTP answers (job routes) and CLI exit codes."""

from __future__ import annotations

import pytest

from app.api.error_responses import from_object_store_error
from app.exit_codes import EXIT_USAGE_OR_IO, exit_code_for, user_message
from app.objects.errors import (
    InvalidObjectUri,
    ObjectAccessDenied,
    ObjectNotFound,
    ObjectSourceChanged,
    ObjectStorageFull,
    ObjectStoreUnavailable,
    ObjectTooLarge,
)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidObjectUri("no such scheme"), 422, "invalid_object_uri"),
        (ObjectNotFound("no object at s3://b/k", uri="s3://b/k"), 422, "object_not_found"),
        (ObjectAccessDenied("refused"), 403, "object_access_denied"),
        (ObjectTooLarge("too big"), 413, "object_too_large"),
        (ObjectStoreUnavailable("timed out"), 503, "object_store_unavailable"),
        (ObjectSourceChanged("changed"), 503, "object_store_unavailable"),
        (ObjectStorageFull("full"), 507, "insufficient_storage"),
    ],
)
def test_each_storage_problem_has_its_answer(error, status, code):
    answer = from_object_store_error(error)
    assert (answer.status, answer.code) == (status, code)
    assert answer.message == error.message
    assert exit_code_for(error) == EXIT_USAGE_OR_IO
    assert user_message(error) == error.message


def test_the_uri_is_part_of_the_answer():
    answer = from_object_store_error(ObjectNotFound("no object at s3://b/k", uri="s3://b/k"))
    assert answer.extra == {"uri": "s3://b/k"}

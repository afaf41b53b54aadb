"""/sbr/v1 against the service's own OpenAPI document, with schemathesis over real HTTP.

Every answer to generated requests (valid and invalid parameters, bodies, manifest ids) must be
one the document declares: its status, its content type, a body matching its schema; and never a
5xx. The repository holds one signed entry, so matches and manifest stores are really produced.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .sbr_support import SBR, encoded, sign, textured_image, two_tenants

_CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)


@pytest.fixture
def sbr_schema(client: httpx.Client):
    """The /sbr/v1 part of the document the running service serves at /openapi.json."""
    document = client.get("/openapi.json").json()
    return schemathesis.openapi.from_dict(document).include(path_regex=f"^{SBR}/")


def test_sbr_answers_conform_to_the_openapi_document(client, store, sbr_schema):
    tenants = two_tenants(store)
    sign(client, tenants.a, encoded(textured_image(21)))
    base_url = str(client.base_url)
    # Driven with hypothesis directly (schemathesis's pytest plugin does not load under this pytest):
    # each operation's generated cases, valid and invalid, sent with tenant-a's key.
    operations = [result.ok() for result in sbr_schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == {
        ("GET", f"{SBR}/services/supportedAlgorithms"),
        ("GET", f"{SBR}/matches/byBinding"),
        ("POST", f"{SBR}/matches/byBinding"),
        ("POST", f"{SBR}/matches/byContent"),
        ("GET", f"{SBR}/manifests/{{manifestId}}"),
    }
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def conforms(case):
            response = case.call(base_url=base_url, headers=tenants.a)
            case.validate_response(response, checks=_CHECKS)

        conforms()

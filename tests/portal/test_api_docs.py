"""The OpenAPI 3 schema (/api/schema/) and its docs page (/api/docs/): a valid document
that declares the tenant's Bearer tokens, and a page whose assets are our own."""
import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.test import Client
from drf_spectacular.validation import validate_schema


@pytest.fixture
def schema(db):
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_the_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises on any violation of the OpenAPI 3 JSON Schema


def test_it_declares_the_bearer_scheme_and_the_pnc_api_uses_it(schema):
    assert schema["components"]["securitySchemes"]["tenantBearer"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": schema["components"]["securitySchemes"]["tenantBearer"]["description"]}
    pnc = {path: ops for path, ops in schema["paths"].items() if "/pnc/" in path}
    assert "/api/v1/tenants/{tenant}/pnc/contracts/{emaid}/revoke" in pnc
    for ops in pnc.values():
        for op in ops.values():
            assert op["security"] == [{"tenantBearer": []}]
            assert "application/problem+json" in op["responses"]["401"]["content"]


def test_the_schema_is_also_yaml(db):
    assert yaml.safe_load(Client().get("/api/schema/").content)["info"]["title"] == "Chargegate API"


def test_the_docs_page_loads_nothing_from_elsewhere(db):
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/api/schema/" in page
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/static/") for a in assets), assets
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")), asset

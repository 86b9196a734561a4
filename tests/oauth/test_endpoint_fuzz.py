"""Whatever a client sends, the back-channel endpoints answer with an OAuth error or a
success — never a server error. Hypothesis throws random forms at them."""
import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.oauth.conftest import PNC_DETAIL, REDIRECT

NAMES = ["grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope", "assertion",
         "client_id", "client_secret", "client_assertion", "client_assertion_type", "response_type",
         "code_challenge", "code_challenge_method", "state", "authorization_details", "request_uri", "token",
         "token_type_hint", "request"]
GOOD = {"grant_type": ["authorization_code", "refresh_token", "client_credentials",
                       "urn:ietf:params:oauth:grant-type:jwt-bearer"],
        "client_id": ["example_emsp", "backend"], "response_type": ["code"], "code_challenge_method": ["S256"],
        "redirect_uri": [REDIRECT], "client_assertion_type": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"],
        "authorization_details": [json.dumps([PNC_DETAIL]), "[]", "{}", "[{\"type\": 1}]"],
        "client_secret": ["<backend-secret>"], "code_challenge": ["E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"],
        "scope": ["ccsr", "emsp:read", "ccsr profile"]}
# Placeholders for the fixtures' real secrets, so that some requests get past client
# authentication and reach the grants.
EV_SECRET, BACKEND_SECRET = "<ev-secret>", "<backend-secret>"
text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=60)


# What each endpoint needs to get past its first checks, so that the fuzzing reaches
# the grants and validators behind them.
USUAL = {"token": ["grant_type", "code_verifier", "redirect_uri"],
         "par": ["response_type", "redirect_uri", "code_challenge", "code_challenge_method", "scope"],
         "introspect": ["token"], "revoke": ["token"]}


@st.composite
def forms(draw, endpoint):
    names = set(draw(st.lists(st.sampled_from(NAMES), max_size=8, unique=True)))
    names |= {n for n in USUAL[endpoint] if draw(st.integers(0, 9)) > 0}
    return {n: draw(st.one_of(st.sampled_from(GOOD[n]), text) if n in GOOD else text) for n in sorted(names)}


@st.composite
def authorizations(draw):
    kind = draw(st.sampled_from(["none", "basic-good", "basic-random", "random"]))
    if kind == "basic-good":
        return "Basic " + EV_SECRET
    if kind == "basic-random":
        return "Basic " + draw(text)
    return draw(text) if kind == "random" else None


@pytest.mark.parametrize("endpoint", ["token", "par", "introspect", "revoke"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), authorization=authorizations())
def test_no_input_makes_a_server_error(client, ev_client, backend_client, endpoint, data, authorization):
    form = data.draw(forms(endpoint))
    if authorization == "Basic " + EV_SECRET:
        authorization = "Basic " + base64.b64encode(f"example_emsp:{ev_client.plain_secret}".encode()).decode()
    form = {k: backend_client.plain_secret if v == BACKEND_SECRET else v for k, v in form.items()}
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    response = client.post(f"/oauth/emsp/{endpoint}", form, **extra)
    assert response.status_code in (200, 201, 400, 401, 413), (response.status_code, response.content[:200])
    body = response.json()
    if response.status_code >= 400:
        assert isinstance(body["error"], str) and response["Cache-Control"] == "no-store"

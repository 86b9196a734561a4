"""A station's credentials in the portal, from its authentication page
(csms/station_auth_pages.py): tokens, its TOTP secret, its public keys for Bearer.

Each action calls the function the CLI and the REST API call (`station_methods`,
`station_bearer`, which audit them), with the REST API's serializer checking the form.
A secret is shown once, in the answer to the POST that made it, with
`Cache-Control: no-store`: never redirected to, never kept in a session, cookie or
message, so no later page (nor the browser's back button) can show it again."""
from django.contrib import messages
from django.db import transaction
from django.shortcuts import render

from lib import totp_token

from . import station_bearer, station_methods
from .api import TokenRequestSerializer
from .api_auth import TotpRequestSerializer
from .auth import policy, totp
from .pages import flat_errors, station_action
from .station_auth_pages import actor, auth_page
from .station_keys_api import StationKeyRequestSerializer


def shown_once(request, station, *, title: str, secret: str, method: str, facts: list, uri: str = ""):
    """The one page that shows a secret just made."""
    allowed = station_methods.resolve(station).methods
    response = render(request, "csms/shown_once.html", {
        "tenant": station.tenant, "station": station, "title": title, "secret": secret, "uri": uri,
        "facts": facts, "may_use": method in allowed, "method": method, "allowed": allowed})
    response["Cache-Control"] = "no-store"
    return response


def warn_if_stranded(request, station) -> None:
    """A credential taken away may leave the station with none for its methods: say so
    (the removal is done all the same: the credential may have leaked)."""
    if not station_methods.usable(station, station_methods.resolve(station).methods):
        messages.warning(request, f"{station.identity} now holds no credential for any of its methods and cannot "
                                  "connect: issue it one, or allow another method.")


def checked(serializer_class, request, fields):
    """The form's `fields` (those given) through the REST API's serializer: (data, None)
    or (None, errors by field)."""
    body = serializer_class(data={name: request.POST[name] for name in fields if request.POST.get(name, "") != ""})
    return (body.validated_data, None) if body.is_valid() else (None, flat_errors(body.errors))


# --- tokens -------------------------------------------------------------------------------

@station_action("station-token-issue", back="station-auth")
def issue_token(request, station):
    body, errors = checked(TokenRequestSerializer, request, ["label"])
    if errors:
        return auth_page(request, station, errors=errors, status=400)
    try:
        row, value = station_methods.issue_token(station, body["label"], actor=actor(request))
    except station_methods.TooManyTokens as exc:
        messages.error(request, f"No token issued: {exc}.")
        return None
    return shown_once(request, station, title="Token", secret=value, method="token",
                      facts=[("Token id", row.public_id), ("Label", row.label or "–")])


@station_action("station-token-revoke", ask="Revoke token {post[token]} of {station.identity}?",
                consequence="It stops working now, and a connection opened with a token is closed.",
                back="station-auth")
def revoke_token(request, station):
    row = station_methods.revoke_token(station, request.POST.get("token", ""), actor=actor(request))
    if row is None:
        messages.error(request, "The station has no such token.")
        return
    messages.success(request, f"Token {row.public_id} revoked.")
    warn_if_stranded(request, station)


# --- TOTP ---------------------------------------------------------------------------------

@station_action("station-totp-issue", ask="Replace the TOTP secret of {station.identity}?",
                consequence="The current secret stops working now and a connection opened with TOTP is closed: "
                            "the station needs the new one.",
                asks_when=lambda post: post.get("replace") == "yes", back="station-auth")
def issue_totp(request, station):
    """A new secret; with `replace=yes`, the active one is revoked first, in the same
    transaction (one active secret per station is the service's rule)."""
    body, errors = checked(TotpRequestSerializer, request, ["validity", "length", "hash_algorithm"])
    if errors:
        return auth_page(request, station, errors=errors, status=400)
    try:
        with transaction.atomic():
            if request.POST.get("replace") == "yes":
                station_methods.revoke_totp(station, actor=actor(request))
            row, secret = station_methods.issue_totp(station, actor=actor(request), **body)
    except station_methods.TotpExists as exc:
        messages.error(request, f"No secret issued: {exc}.")
        return None
    except ValueError as exc:  # totp.InvalidConfig
        return auth_page(request, station, errors={"totp": [str(exc)]}, status=400)
    shape = totp_token.config(secret, row.validity, row.length, totp.BASE62, row.hash_algorithm)
    return shown_once(request, station, title="TOTP secret", secret=secret, method="totp",
                      uri=totp_token.provisioning_uri(shape, policy.realm(station.tenant), station.identity),
                      facts=[("Secret id", row.public_id), ("Validity", f"{row.validity} s"),
                             ("Token length", f"{row.length} characters"), ("Hash", row.hash_algorithm),
                             ("Alphabet", "Base62")])


@station_action("station-totp-revoke", ask="Remove the TOTP secret of {station.identity}?",
                consequence="It stops working now, and a connection opened with TOTP is closed.",
                back="station-auth")
def revoke_totp(request, station):
    row = station_methods.revoke_totp(station, actor=actor(request))
    if row is None:
        messages.info(request, "The station has no active TOTP secret.")
        return
    messages.success(request, f"TOTP secret {row.public_id} removed.")
    warn_if_stranded(request, station)


# --- public keys (Bearer) -------------------------------------------------------------------

@station_action("station-key-add", back="station-auth")
def add_key(request, station):
    """Register a public key (PEM or JWK); what the authority refuses (a private key, a
    wrong curve, text that is no key) comes back as the form's error, a 400. The text is
    not written back into the form: it may be a private key pasted by mistake."""
    values = {"kid": request.POST.get("kid", "")}
    body, errors = checked(StationKeyRequestSerializer, request, ["public_key", "kid"])
    if errors:
        return auth_page(request, station, errors=errors, values=values, status=400)
    try:
        row = station_bearer.add_key(station, body["public_key"], body["kid"], actor=actor(request))
    except station_bearer.StationKeyRefused as exc:
        return auth_page(request, station, errors={"public_key": [str(exc)]}, values=values, status=400)
    except station_bearer.NoAuthorizationServer as exc:
        messages.error(request, f"No key registered: {exc}.")
        return None
    allowed = station_methods.resolve(station).methods
    messages.success(request, f"Key {row['kid']} registered."
                     + ("" if "bearer" in allowed else f" The station may not use Bearer yet (its methods: "
                                                       f"{', '.join(allowed)})."))
    return None


@station_action("station-key-retire", ask="Retire key {post[kid]} of {station.identity}?",
                consequence="Assertions signed with it are refused now, the station's access tokens are revoked "
                            "and a Bearer connection is closed.", back="station-auth")
def retire_key(request, station):
    try:
        row = station_bearer.retire_key(station, request.POST.get("kid", ""), actor=actor(request))
    except station_bearer.NoAuthorizationServer as exc:
        messages.error(request, f"No key retired: {exc}.")
        return
    if row is None:
        messages.error(request, "The station has no such key.")
        return
    messages.success(request, f"Key {row['kid']} retired; {row['tokens_revoked']} access token(s) revoked.")
    warn_if_stranded(request, station)

"""The reference station client: the client side of the OCA white paper *HTTP
Authentication Extensions for OCPP* (`../shared/specs/http-auth-extensions-for-ocpp.full.md`,
"Charging Station Configuration" and test cases CS-1..CS-8).

    negotiation.py    which method to send: the station's ordered methods, what a 401
                      offers, 3 failures then the next, the negotiated method. Pure.
    authorization.py  how each method writes its credentials (Basic, Token, Digest with
                      SHA-2, TOTP in its three bindings, Bearer). Pure.
    record.py         what crossed the wire, with timestamps, credentials masked. Pure.
    client.py         the WebSocket I/O (`websockets`): `StationClient.connect`.

It is the station's side, so it knows nothing of the CSMS: it imports only `lib` (the
RFC 9110 grammar and the TOTP token format, shared with the server) and `websockets`.
`manage.py station probe` (the white paper's diagnostics tool) is built on it.
"""

"""One HTTP EAP handshake for the CSMS's EAP tests, with the station side of
`stationclient/eap.py` writing the packets:

    status, www_authenticate_values, authentication_info = await attempt(server, "CP1", value)
"""
import websockets

from tests.stations import station_url


async def attempt(server, identity: str, authorization_value: str | None, protocol="ocpp1.6", tenant="acme"):
    """One handshake: (status, WWW-Authenticate values, Authentication-Info or None)."""
    headers = {"Authorization": authorization_value} if authorization_value else {}
    try:
        ws = await websockets.connect(station_url(server, tenant, identity), subprotocols=[protocol],
                                      additional_headers=headers, open_timeout=10, ping_interval=None)
    except websockets.InvalidStatus as exc:
        return exc.response.status_code, exc.response.headers.get_all("WWW-Authenticate"), None
    info = ws.response.headers.get("Authentication-Info")
    await ws.close()
    return 101, [], info

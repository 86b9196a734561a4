"""A driver's browser session against a live server, with plain `requests`: follows
the authorize → login → consent path the way a browser would (cookies, CSRF)."""
import re
from urllib.parse import urljoin

import requests

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _csrf(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def approve(base: str, authorize_url: str, username: str, password: str, decision: str = "approve") -> str:
    """Open `authorize_url`, sign in, decide; return the redirect the client receives."""
    s = requests.Session()
    r = s.get(authorize_url, allow_redirects=False, timeout=10)
    assert r.status_code == 303, (r.status_code, r.text[:300])
    consent = urljoin(base, r.headers["Location"])
    r = s.get(consent, allow_redirects=False, timeout=10)
    assert r.status_code == 302 and "/login/" in r.headers["Location"]
    login = urljoin(base, r.headers["Location"])
    page = s.get(login, timeout=10)
    r = s.post(login, data={"username": username, "password": password, "next": consent.replace(base, ""),
                            "csrfmiddlewaretoken": _csrf(page.text)},
               headers={"Referer": login}, allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text[:300]
    page = s.get(consent, timeout=10)
    assert page.status_code == 200
    r = s.post(consent, data={"decision": decision, "csrfmiddlewaretoken": _csrf(page.text)},
               headers={"Referer": consent}, allow_redirects=False, timeout=10)
    assert r.status_code == 303, (r.status_code, r.text[:300])
    return r.headers["Location"]

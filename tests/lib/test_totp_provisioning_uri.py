"""`totp_token.provisioning_uri`: the configuration as a Key URI, every parameter spelt
out, label and values percent-encoded (an identity may hold '/' or spaces)."""
from urllib.parse import parse_qs, unquote, urlsplit

from lib import totp_token


def test_the_uri_carries_every_parameter_of_the_configuration():
    shape = totp_token.config("s3cr3t-Base62-ABCDEFGHIJKLMNOPQRS", 60, 10, None, "sha512")
    uri = urlsplit(totp_token.provisioning_uri(shape, "Chargegate acme", "site 7/CP 1"))
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == "/Chargegate acme:site 7/CP 1" and "%2F" in uri.path
    query = {k: v[0] for k, v in parse_qs(uri.query).items()}
    assert query == {"secret": "s3cr3t-Base62-ABCDEFGHIJKLMNOPQRS", "issuer": "Chargegate acme",
                     "algorithm": "SHA512", "digits": "10", "period": "60", "alphabet": totp_token.BASE62}

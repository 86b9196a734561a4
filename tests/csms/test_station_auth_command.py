"""`manage.py station group|auth|token ...`: method lists per station, group and tenant,
refusals that would lock stations out, tokens shown once, and `auth status`."""
import json

import pytest
from django.core.management import CommandError

from csms.auth.keys import verify_secret
from csms.models import AuditEvent, Station, StationToken
from tests.commands import run_cmd
from tests.factories import make_station, make_tenant

pytestmark = pytest.mark.django_db


def as_json(*args):
    return json.loads(run_cmd("station", *args, "--json"))


@pytest.fixture
def acme():
    tenant = make_tenant("acme")
    make_station(tenant, "CP1", vendor="ABB", model="Terra", firmware_version="1.7.2")
    make_station(tenant, "CP2", vendor="Alfen", firmware_version="4.0")
    return tenant


def test_a_new_station_uses_basic_alone(acme):
    assert as_json("auth", "show", "acme", "CP1") == {
        "identity": "CP1", "methods": ["basic"], "source": "built-in", "group": None, "own_methods": None,
        "usable": ["basic"], "last_method": None, "active_tokens": 0}


def test_a_token_is_shown_once_and_stored_hashed(acme):
    out = run_cmd("station", "token", "issue", "acme", "CP1", "--label", "cabinet 3", "--json")
    issued = json.loads(out)
    token = issued["token"]
    assert token.startswith("cgt_") and issued["id"] == token.split("_")[1] and issued["label"] == "cabinet 3"
    row = StationToken.objects.get()
    assert row.secret_hash.startswith("pbkdf2_sha256_generated$")
    assert verify_secret(token.split("_", 2)[2].encode(), row.secret_hash)
    assert token not in row.secret_hash and token.split("_", 2)[2] not in row.secret_hash
    later = (run_cmd("station", "token", "list", "acme", "CP1", "--json") + run_cmd("station", "token", "list", "acme", "CP1")
             + run_cmd("station", "auth", "show", "acme", "CP1", "--json") + run_cmd("station", "show", "acme", "CP1"))
    assert token.split("_", 2)[2] not in later and issued["id"] in later
    assert [e.outcome for e in AuditEvent.objects.filter(action="token.issued")] == [issued["id"]]


def test_token_issue_text_warns_and_says_when_token_is_not_allowed_yet(acme):
    out = run_cmd("station", "token", "issue", "acme", "CP1")
    assert "shown once" in out and "may not use Token yet" in out


def test_a_station_has_at_most_five_active_tokens(acme):
    ids = [as_json("token", "issue", "acme", "CP1")["id"] for _ in range(5)]
    with pytest.raises(CommandError, match="5 active tokens"):
        run_cmd("station", "token", "issue", "acme", "CP1")
    run_cmd("station", "token", "revoke", "acme", "CP1", ids[0])
    as_json("token", "issue", "acme", "CP1")
    assert [t["active"] for t in as_json("token", "list", "acme", "CP1")] == [False] + [True] * 5


def test_revoking_an_unknown_token_is_an_error(acme):
    with pytest.raises(CommandError, match="no token 'abc'"):
        run_cmd("station", "token", "revoke", "acme", "CP1", "abc")


def test_switching_basic_off_without_a_token_is_refused(acme):
    with pytest.raises(CommandError, match=r"leave 1 station\(s\) with no method .*CP1"):
        run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "token")
    assert Station.objects.get(identity="CP1").auth_methods is None
    as_json("token", "issue", "acme", "CP1")
    shown = as_json("auth", "set", "acme", "CP1", "--methods", "token")
    assert (shown["methods"], shown["source"], shown["usable"]) == (["token"], "station", ["token"])


def test_force_applies_a_lockout_and_show_warns(acme):
    run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "token", "--force")
    assert "cannot connect" in run_cmd("station", "auth", "show", "acme", "CP1")


def test_a_tenant_default_that_strands_stations_names_them(acme):
    with pytest.raises(CommandError, match="leave 2 station"):
        run_cmd("station", "auth", "default", "acme", "--methods", "token")
    shown = as_json("auth", "default", "acme", "--methods", "basic,token")
    assert shown == {"tenant": "acme", "default_methods": ["basic", "token"], "inherited": False}
    assert as_json("auth", "show", "acme", "CP2")["source"] == "tenant"


@pytest.mark.parametrize("methods, problem", [
    ("", "at least one method"), ("kerberos", "unknown method"), ("basic,basic", "twice")])
def test_bad_method_lists_are_refused(acme, methods, problem):
    with pytest.raises(CommandError, match=problem):
        run_cmd("station", "auth", "set", "acme", "CP1", "--methods", methods)


def test_groups_select_by_boot_data_first_match_by_rank(acme):
    run_cmd("station", "group", "add", "acme", "abb", "--vendor", "abb", "--methods", "basic", "--rank", "20")
    run_cmd("station", "group", "add", "acme", "old-fw", "--firmware", "1.*", "--rank", "10")
    assert as_json("auth", "show", "acme", "CP1")["group"] == "old-fw"
    listed = as_json("group", "list", "acme")
    assert [(g["name"], g["rank"], g["stations"]) for g in listed] == [("old-fw", 10, 1), ("abb", 20, 0)]
    assert listed[0]["patterns"] == {"identity": "", "vendor": "", "model": "", "firmware": "1.*"}
    run_cmd("station", "group", "set", "acme", "old-fw", "--rank", "30")
    assert as_json("auth", "show", "acme", "CP1")["group"] == "abb"
    text = run_cmd("station", "group", "list", "acme")
    assert "20\tabb\tvendor=abb\tbasic\tany network\t1 stations" in text


def test_group_errors(acme):
    run_cmd("station", "group", "add", "acme", "abb", "--vendor", "ABB", "--rank", "10")
    with pytest.raises(CommandError, match="already exists"):
        run_cmd("station", "group", "add", "acme", "abb")
    with pytest.raises(CommandError, match="rank 10 is taken by group abb"):
        run_cmd("station", "group", "add", "acme", "other", "--rank", "10")
    with pytest.raises(CommandError, match="no group 'nope'"):
        run_cmd("station", "group", "set", "acme", "nope", "--inherit")
    with pytest.raises(CommandError, match="group name"):
        run_cmd("station", "group", "add", "acme", "bad name")
    with pytest.raises(CommandError, match="no method they hold"):
        run_cmd("station", "group", "set", "acme", "abb", "--methods", "token")


def test_auth_status_counts_last_methods_per_group_and_lists_who_is_on_basic(acme):
    run_cmd("station", "group", "add", "acme", "abb", "--vendor", "ABB")
    make_station(acme, "CP3", vendor="ABB")
    Station.objects.filter(identity="CP1").update(last_auth_method="basic")
    Station.objects.filter(identity="CP3").update(last_auth_method="token")
    Station.objects.filter(identity="CP2").update(last_auth_method="basic")
    status = as_json("auth", "status", "acme")
    assert status == {"tenant": "acme", "groups": [
        {"group": "abb", "stations": 2, "last_method": {"basic": 1, "token": 1}, "still_on_basic": ["CP1"],
         "basic_allowed": 2},
        {"group": None, "stations": 1, "last_method": {"basic": 1}, "still_on_basic": ["CP2"],
         "basic_allowed": 1}]}
    text = run_cmd("station", "auth", "status", "acme")
    assert "abb: 2 stations; last method: basic 1, token 1; Basic allowed for 2" in text
    assert "  still on Basic: CP1" in text and "(no group): 1 stations" in text


def test_switching_a_method_off_takes_away_connections_that_proved_it(acme):
    """Downgrade protection for sockets already open: the connection that proved Basic
    loses its claim (it closes at once where the channel layer reaches, else at its next
    reconcile); one that proved a method still allowed keeps it."""
    Station.objects.filter(identity__in=["CP1", "CP2"]).update(
        connected=True, connection_id="node.1", last_auth_method="basic")
    as_json("token", "issue", "acme", "CP1")
    run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "token")
    rows = {s.identity: (s.connected, s.connection_id) for s in Station.objects.all()}
    assert rows == {"CP1": (False, ""), "CP2": (True, "node.1")}


def test_revoking_a_token_takes_away_a_token_connection(acme):
    issued = as_json("token", "issue", "acme", "CP1")
    Station.objects.filter(identity="CP1").update(connected=True, connection_id="node.1", last_auth_method="token")
    run_cmd("station", "token", "revoke", "acme", "CP1", issued["id"])
    assert Station.objects.get(identity="CP1").connection_id == ""


def test_group_networks_are_checked_and_shown(acme):
    shown = as_json("group", "add", "acme", "depot", "--identity", "CP*", "--networks", "10.20.0.0/16, 2001:db8::/32")
    assert shown["networks"] == ["10.20.0.0/16", "2001:db8::/32"]
    with pytest.raises(CommandError, match="--networks: 10.0.0.1/8: .*host bits"):
        run_cmd("station", "group", "set", "acme", "depot", "--networks", "10.0.0.1/8")
    with pytest.raises(CommandError, match="--networks: nonsense"):
        run_cmd("station", "group", "set", "acme", "depot", "--networks", "nonsense")
    assert as_json("group", "set", "acme", "depot", "--networks", "any")["networks"] == []


def test_logins_are_added_listed_and_removed(acme):
    assert as_json("login", "add", "acme", "CP1", "site-7f3a") == {"identity": "CP1", "logins": ["CP1", "site-7f3a"]}
    assert run_cmd("station", "login", "list", "acme", "CP1") == "CP1\nsite-7f3a\n"
    assert AuditEvent.objects.filter(action="login.added", outcome="site-7f3a").exists()
    assert as_json("login", "remove", "acme", "CP1", "site-7f3a")["logins"] == ["CP1"]


@pytest.mark.parametrize("login, problem", [
    ("CP2", "another station's identity"), ("CP1", "always its login"), ("a:b", "without ':'"), ("x", "2-255"),
])
def test_logins_that_are_refused(acme, login, problem):
    with pytest.raises(CommandError, match=problem):
        run_cmd("station", "login", "add", "acme", "CP1", login)


def test_a_login_names_one_station_in_its_tenant(acme):
    run_cmd("station", "login", "add", "acme", "CP1", "alias-1")
    with pytest.raises(CommandError, match="already a login in acme"):
        run_cmd("station", "login", "add", "acme", "CP2", "alias-1")
    with pytest.raises(CommandError, match="no login 'nope'"):
        run_cmd("station", "login", "remove", "acme", "CP1", "nope")


def test_revoking_the_last_token_of_a_token_only_station_warns_it_cannot_connect(acme):
    issued = as_json("token", "issue", "acme", "CP1")
    run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "token")
    out = run_cmd("station", "token", "revoke", "acme", "CP1", issued["id"])
    assert "token " + issued["id"] + " revoked" in out and "cannot connect" in out
    second = as_json("token", "issue", "acme", "CP2")
    assert as_json("token", "revoke", "acme", "CP2", second["id"])["usable_methods"] == ["basic"]


def test_station_show_tells_the_last_method(acme):
    Station.objects.filter(identity="CP1").update(last_auth_method="token")
    assert as_json("show", "acme", "CP1")["last_auth_method"] == "token"
    assert as_json("show", "acme", "CP2")["last_auth_method"] is None


def test_adding_a_station_where_basic_is_off_warns_on_stderr(acme):
    import io

    from django.core.management import call_command

    run_cmd("station", "group", "add", "acme", "new", "--identity", "NEW-*", "--methods", "token")
    out, err = io.StringIO(), io.StringIO()
    call_command("station", "add", "acme", "NEW-1", "--generate-key", "--json", stdout=out, stderr=err)
    assert json.loads(out.getvalue())["identity"] == "NEW-1"
    assert "1 new station(s) (NEW-1) may not use Basic" in err.getvalue()
    err = io.StringIO()
    call_command("station", "add", "acme", "CP9", "--generate-key", stdout=io.StringIO(), stderr=err)
    assert err.getvalue() == ""

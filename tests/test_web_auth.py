"""Sign-in, sessions, roles, CSRF, sign-in limits, kiosk token and the audit log, over HTTP against a real
central process (its accounts file is real SQLite, its hashes real Argon2)."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from broker import free_port
from webdata import PASSWORD, Central, Publisher, Sequencer, Truck, truck_events

pytestmark = pytest.mark.slow

SITE = "laocai"
SITES = [{"id": SITE, "name": "Lào Cai", "lanes": [{"id": "out-1", "direction": "export"}]}]
KIOSK = "kiosk-token-for-the-wall-screen-0123456789"
WINDOW_S = 3  # sign-in lock-out window, short so the test can wait it out


@pytest.fixture(scope="module")
def central(tmp_path_factory, broker):
    c = Central(tmp_path_factory.mktemp("web-auth"), broker.host, broker.port, free_port(), SITES,
                web={"kiosk_token": KIOSK, "signin_max_failures": 3, "signin_window_s": WINDOW_S})
    for name, role in (("olga", "operator"), ("sam", "staff"), ("ada", "admin")):
        c.add_user(name, role)
    c.start()
    publisher = Publisher(broker.host, broker.port)
    start = datetime.now(UTC) - timedelta(hours=3)
    seq = Sequencer()
    trucks = [Truck(SITE, "out-1", "gate", i, f"24C{11111 + i}", "VN", start + timedelta(minutes=7 * i), 300, 120,
                    25000) for i in range(6)]
    events = [e for t in trucks for e in truck_events(t, seq, crops=False)]
    publisher.events(events)
    c.wait_for_events(len(events))
    publisher.close()
    yield c
    c.stop()


_open: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    while _open:
        _open.pop().close()


def client(central: Central, **kw) -> httpx.Client:
    c = httpx.Client(base_url=central.url, follow_redirects=False, timeout=10, **kw)
    _open.append(c)
    return c


def form_token(response: httpx.Response) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', response.text).group(1)


def sign_in(central: Central, name: str, password: str = PASSWORD, **kw) -> httpx.Client:
    c = client(central, **kw)
    token = form_token(c.get("/signin"))
    r = c.post("/signin", data={"csrf": token, "username": name, "password": password})
    assert r.status_code == 303, r.text
    return c


def test_passwords_are_stored_as_argon2id_hashes(central):
    db = sqlite3.connect(central.workdir / "accounts.sqlite")
    hashes = dict(db.execute("SELECT name, password_hash FROM users"))
    db.close()
    assert set(hashes) == {"olga", "sam", "ada"}
    for h in hashes.values():
        assert h.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        assert PASSWORD not in h
    assert len(set(hashes.values())) == 3  # salted


def test_session_cookie_flags_and_a_fresh_session_at_every_sign_in(central):
    c = client(central)
    token = form_token(c.get("/signin"))
    r = c.post("/signin?next=/history", data={"csrf": token, "username": "sam", "password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/history"
    cookie = r.headers["set-cookie"]
    assert "lw_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback
    first = c.cookies["lw_session"]
    token = form_token(c.get("/history"))
    r = c.post("/signin", data={"csrf": token, "username": "sam", "password": PASSWORD})
    assert c.cookies["lw_session"] != first
    assert client(central, cookies={"lw_session": first}).get("/board/data").status_code == 401  # old one ended

    # Behind a TLS proxy on this host (X-Forwarded-Proto from 127.0.0.1, which uvicorn trusts): Secure.
    tls = client(central, headers={"x-forwarded-proto": "https"})
    first_visit = tls.get("/signin")
    assert "Secure" in first_visit.headers["set-cookie"]  # the signed-out CSRF cookie too
    token = form_token(first_visit)
    # httpx keeps Secure cookies away from plain HTTP, as a browser would; hand the CSRF cookie over ourselves.
    r = tls.post("/signin", data={"csrf": token, "username": "sam", "password": PASSWORD},
                 headers={"cookie": f"lw_csrf={token}"})
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


def test_signed_out_requests_are_refused(central):
    c = client(central)
    r = c.get("/", headers={"accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=%2F"
    for path in ("/board/data", "/board/stream", "/history", "/history.csv", "/crossings/x", "/admin/users",
                 "/admin/audit", "/api/lanes", "/api/stream", "/crops/0190a0c0-0000-7000-8000-000000000000/0"):
        assert c.get(path).status_code == 401, path


def test_forms_without_the_right_csrf_token_or_from_another_site_are_refused(central):
    c = client(central)
    token = form_token(c.get("/signin"))
    good = {"csrf": token, "username": "sam", "password": PASSWORD}
    assert c.post("/signin", data=good | {"csrf": ""}).status_code == 403
    assert c.post("/signin", data=good | {"csrf": "x" + token}).status_code == 403
    assert c.post("/signin", data=good, headers={"origin": "http://evil.example"}).status_code == 403
    assert c.post("/signin", data=good, headers={"sec-fetch-site": "cross-site"}).status_code == 403
    assert c.post("/signin", data=good).status_code == 303
    # Signed in, the session's own token is required (not the signed-out one).
    assert c.post("/signout", data={"csrf": token}).status_code == 403
    assert c.post("/signout", data={"csrf": form_token(c.get("/"))}).status_code == 303
    assert c.get("/board/data").status_code == 401


def test_failed_sign_ins_lock_the_account_even_for_the_right_password(central):
    c = client(central)
    token = form_token(c.get("/signin"))
    for _ in range(3):
        r = c.post("/signin", data={"csrf": token, "username": "olga", "password": "wrong password!"})
        assert r.status_code == 401
    r = c.post("/signin", data={"csrf": token, "username": "olga", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "Đăng nhập sai quá nhiều lần" in r.text
    time.sleep(WINDOW_S + 0.2)
    r = c.post("/signin", data={"csrf": token, "username": "olga", "password": PASSWORD})
    assert r.status_code == 303


def test_roles_open_only_their_pages(central):
    allowed = {
        "olga": {"/", "/board/data"},
        "sam": {"/", "/board/data", "/history", "/history.csv"},
        "ada": {"/", "/board/data", "/history", "/history.csv", "/admin/users", "/admin/audit"},
    }
    paths = ["/", "/board/data", "/history", "/history.csv", "/admin/users", "/admin/audit"]
    for name, ok in allowed.items():
        c = sign_in(central, name)
        for path in paths:
            assert c.get(path).status_code == (200 if path in ok else 403), (name, path)


def test_history_queries_and_exports_are_audited_with_filter_and_row_count(central):
    c = sign_in(central, "sam")
    vn = datetime.now(UTC) + timedelta(hours=7)
    query = {"lane": "out-1", "plate": "24c-1111", "from": (vn - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M"),
             "to": vn.strftime("%Y-%m-%dT%H:%M")}
    page = c.get("/history", params=query)
    assert page.status_code == 200
    exported = list(csv.DictReader(io.StringIO(c.get("/history.csv", params=query).text)))
    assert [r["plate"] for r in exported] == ["24C11116", "24C11115", "24C11114", "24C11113", "24C11112", "24C11111"]
    assert re.search(r'data-total="6"', page.text)

    db = sqlite3.connect(central.workdir / "accounts.sqlite")
    rows = db.execute("SELECT user, role, action, filters, rows FROM audit WHERE user = 'sam' AND action IN "
                      "('history', 'export') ORDER BY id DESC LIMIT 2").fetchall()
    db.close()
    (user, role, action, filters, count), (user2, _, action2, filters2, count2) = rows
    assert (user, role, action, count) == ("sam", "staff", "export", 6)
    assert (user2, action2, count2) == ("sam", "history", 6)
    assert json.loads(filters)["plate"] == "24c-1111" and json.loads(filters)["lane"] == "out-1"
    assert json.loads(filters2)["page"] == 1

    audit = sign_in(central, "ada").get("/admin/audit", params={"user": "sam", "action": "export"})
    assert audit.status_code == 200 and "plate=24c-1111" in audit.text


def test_json_api_history_queries_and_exports_are_audited_too(central):
    c = sign_in(central, "sam")
    query = {"lane": "out-1", "plate_contains": "1111", "order": "desc"}
    page = c.get("/api/crossings", params=query | {"limit": 4})
    assert page.status_code == 200 and len(page.json()["crossings"]) == 4
    exported = list(csv.DictReader(io.StringIO(c.get("/api/crossings.csv", params=query).text)))
    assert len(exported) == 6

    db = sqlite3.connect(central.workdir / "accounts.sqlite")
    rows = db.execute("SELECT user, action, filters, rows FROM audit WHERE user = 'sam' AND action IN "
                      "('history', 'export') ORDER BY id DESC LIMIT 2").fetchall()
    db.close()
    assert [(u, a, n) for u, a, _, n in rows] == [("sam", "export", 6), ("sam", "history", 4)]
    assert json.loads(rows[0][2]) == query and json.loads(rows[1][2]) == query | {"limit": "4"}
    audit = sign_in(central, "ada").get("/admin/audit", params={"user": "sam", "action": "export"})
    assert audit.status_code == 200 and "plate_contains=1111" in audit.text


def test_admin_manages_accounts_on_the_page(central):
    admin = sign_in(central, "ada")
    token = form_token(admin.get("/admin/users"))
    r = admin.post("/admin/users", data={"csrf": token, "action": "add", "username": "newbie", "role": "operator",
                                         "password": "another secret 1", "password2": "another secret 1"})
    assert r.status_code == 303
    newbie = sign_in(central, "newbie", "another secret 1")
    assert newbie.get("/board/data").status_code == 200
    assert newbie.post("/admin/users", data={"csrf": form_token(newbie.get("/")), "action": "remove",
                                             "username": "ada"}).status_code == 403
    r = admin.post("/admin/users", data={"csrf": token, "action": "add", "username": "x", "role": "operator",
                                         "password": "short", "password2": "short"})
    assert r.status_code == 400
    assert admin.post("/admin/users", data={"csrf": token, "action": "remove", "username": "ada"}).status_code == 400
    assert admin.post("/admin/users", data={"csrf": token, "action": "remove", "username": "newbie"}).status_code == 303
    assert newbie.get("/board/data").status_code == 401  # a removed account's session ends at once


def test_users_command_manages_accounts_and_ends_sessions(central):
    cfg = str(central.config)
    assert central.cli("users", "add", "--config", cfg, "--role", "staff", "--password-stdin", "Bad Name",
                       stdin=PASSWORD + "\n").returncode == 2
    short = central.cli("users", "add", "--config", cfg, "--role", "staff", "--password-stdin", "tam", stdin="short\n")
    assert short.returncode == 2 and "password must be 10 to 256 characters long, got 5" in short.stderr
    assert central.cli("users", "add", "--config", cfg, "--role", "staff", "--password-stdin", "sam",
                       stdin=PASSWORD + "\n").returncode == 2  # exists
    central.add_user("tam", "staff")
    listed = central.cli("users", "list", "--config", cfg)
    assert re.search(r"^tam\tstaff\tnever signed in$", listed.stdout, re.M)
    session = sign_in(central, "tam")
    changed = central.cli("users", "passwd", "--config", cfg, "--password-stdin", "tam", stdin="a new password 2\n")
    assert changed.returncode == 0
    assert session.get("/board/data").status_code == 401
    sign_in(central, "tam", "a new password 2")
    assert central.cli("users", "remove", "--config", cfg, "tam").returncode == 0
    assert "tam" not in central.cli("users", "list", "--config", cfg).stdout
    assert central.cli("users", "remove", "--config", cfg, "tam").returncode == 2


def test_kiosk_token_gives_a_read_only_board(central):
    c = client(central)
    assert c.get("/kiosk", params={"token": "wrong"}).status_code == 403
    r = c.get("/kiosk", params={"token": KIOSK})
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "Max-Age=" in r.headers["set-cookie"]  # a wall screen keeps its session across reboots
    assert c.get("/board/data").status_code == 200
    for path in ("/history", "/history.csv", "/admin/users"):
        assert c.get(path).status_code == 403
    bearer = client(central, headers={"authorization": f"Bearer {KIOSK}"})
    assert bearer.get("/board/data").status_code == 200
    assert bearer.get("/history").status_code == 403
    assert client(central, headers={"authorization": "Bearer nope"}).get("/board/data").status_code == 401


def test_sign_in_goes_back_only_to_a_local_page(central):
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        c = client(central)
        token = form_token(c.get("/signin"))
        r = c.post("/signin", params={"next": target}, data={"csrf": token, "username": "sam", "password": PASSWORD})
        assert r.headers["location"] == "/", target


def test_pages_carry_security_headers(central):
    r = sign_in(central, "sam").get("/history")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"

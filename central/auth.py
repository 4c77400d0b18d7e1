"""Who may see what: sign-in, sessions, roles, CSRF, failed sign-in limits, the kiosk token.

- Every path needs a session except the sign-in page, the kiosk door and static files; what each role
  may open is the `RULES` table, checked by `AuthMiddleware` before any page or API code runs.
- Sessions are server-side rows (accounts.sqlite) named by a random cookie token: HttpOnly,
  SameSite=Strict, Secure over TLS. Signing in always starts a new session (no fixation).
- Every POST carries a CSRF token that must equal the session's (or, signed out, the `lw_csrf` cookie's),
  and a cross-site Origin is refused outright.
- Failed sign-ins are counted per account name and per address; past the limit both are locked out
  for the window, even with the right password.
- A configured kiosk token, opened once as /kiosk?token=…, gives a wall screen a long read-only board
  session; changing or removing the token in the config ends those sessions.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote, urlsplit

import anyio.from_thread
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from central import audit
from central.accounts import Accounts, fresh_hash, needs_rehash, verify_password
from central.config import CentralConfig

log = logging.getLogger(__name__)

T = TypeVar("T")
SESSION_COOKIE, CSRF_COOKIE = "lw_session", "lw_csrf"
PERMISSIONS: dict[str, frozenset[str]] = {
    "kiosk": frozenset({"board"}),
    "operator": frozenset({"board"}),
    "staff": frozenset({"board", "history", "export"}),
    "admin": frozenset({"board", "history", "export", "users", "audit"}),
}
PUBLIC = ""
# First match wins; a path matching nothing needs `board`. CSV and export paths of any API need `export`.
RULES: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda p: p.startswith("/static/") or p in ("/signin", "/kiosk", "/favicon.ico", "/prefs"), PUBLIC),
    (lambda p: p.endswith(".csv") or "/export" in p, "export"),
    (lambda p: p.startswith(("/history", "/crossings", "/api/crossings")), "history"),
    (lambda p: p.startswith("/admin/users"), "users"),
    (lambda p: p.startswith("/admin/audit"), "audit"),
)
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                 b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # no-referrer would make Chromium send `Origin: null` on our own forms
    (b"x-frame-options", b"DENY"),
]


def permission_for(path: str) -> str:
    return next((need for match, need in RULES if match(path)), "board")


class SigninLimiter:
    """Counts failed sign-ins per key (account name, address) in a sliding window; memory only, bounded."""

    def __init__(self, max_failures: int, window_s: float, max_keys: int = 10_000):
        self.max_failures, self.window_s, self.max_keys = max_failures, window_s, max_keys
        self._failures: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> collections.deque[float]:
        q = self._failures.get(key, collections.deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def retry_after(self, keys: list[str]) -> float:
        """Seconds until a sign-in may be tried again for these keys; 0 when it may now."""
        now = time.monotonic()
        with self._lock:
            waits = [q[-self.max_failures] + self.window_s - now for k in keys
                     if len(q := self._recent(k, now)) >= self.max_failures]
        return max(waits, default=0.0)

    def failed(self, keys: list[str]) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) >= self.max_keys:  # drop the quiet keys first; never grow without bound
                for k in [k for k, q in self._failures.items() if not self._recent(k, now)]:
                    del self._failures[k]
                if len(self._failures) >= self.max_keys:
                    self._failures.pop(next(iter(self._failures)))
            for k in keys:
                q = self._recent(k, now)
                q.append(now)
                self._failures[k] = q

    def succeeded(self, account_key: str) -> None:
        with self._lock:
            self._failures.pop(account_key, None)


@dataclass(frozen=True)
class Viewer:
    """The signed-in person (or kiosk) behind a request."""

    name: str
    role: str
    csrf: str
    session_hash: str

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())


class Auth:
    def __init__(self, config: CentralConfig):
        self.config = config
        self.web = config.web
        self.limiter = SigninLimiter(self.web.signin_max_failures, self.web.signin_window_s)
        self._accounts: Accounts | None = None

    @property
    def accounts(self) -> Accounts:
        # Opened lazily on the event loop's thread; every use is on that thread (argon2 runs elsewhere).
        if self._accounts is None:
            self._accounts = Accounts(self.web.accounts_path(self.config.database))
        return self._accounts

    @property
    def kiosk_key(self) -> str | None:
        """A fingerprint of the configured kiosk token, stored with kiosk sessions so a new token ends them."""
        token = self.web.kiosk_token
        return hashlib.sha256(b"kiosk:" + token.get_secret_value().encode()).hexdigest() if token else None

    def viewer(self, token: str | None) -> Viewer | None:
        if not token:
            return None
        session = self.accounts.session(token, idle_s=self.web.session_idle_hours * 3600)
        if session is None:
            return None
        current = self.kiosk_key
        if session.kiosk_key is not None and not (current and hmac.compare_digest(session.kiosk_key, current)):
            self.accounts.end_session(session.token_hash)
            return None
        return Viewer(session.user, session.role, session.csrf, session.token_hash)

    def bearer_kiosk(self, header: str | None) -> Viewer | None:
        """`Authorization: Bearer <kiosk token>`: read-only board access for scripts and wall screens."""
        token = self.web.kiosk_token
        if not header or not token or not header.startswith("Bearer "):
            return None
        if hmac.compare_digest(header[7:].encode(), token.get_secret_value().encode()):
            return Viewer("kiosk", "kiosk", "", "")
        return None

    def secure(self, request: Request) -> bool:
        return self.web.secure_cookies == "always" or request.url.scheme == "https"

    def set_session_cookie(self, response: Response, request: Request, token: str, max_age: int | None) -> None:
        response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="strict",
                            secure=self.secure(request), path="/")


def viewer_of(request: Request) -> Viewer | None:
    return request.scope.get("lanewatch.viewer")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def expected_csrf(request: Request) -> str | None:
    viewer = viewer_of(request)
    if viewer is not None and viewer.csrf:
        return viewer.csrf
    return request.scope.get("lanewatch.csrf_cookie")


def csrf_token(request: Request) -> str:
    """The token a form on this page must carry."""
    return expected_csrf(request) or ""


def same_origin(request: Request) -> bool:
    """Browsers say where a request comes from (Sec-Fetch-Site, Origin); refuse what is not from our own pages."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser, or a same-origin GET-style navigation: the CSRF token still decides
    # The host, not the scheme: behind a TLS proxy the app may see http while the browser says https.
    return urlsplit(origin).netloc == request.headers.get("host")


async def checked_form(request: Request) -> dict[str, str] | Response:
    """The POSTed form if its CSRF token and origin are right; otherwise a 403 response to return."""
    if not same_origin(request):
        return PlainTextResponse("cross-site form refused", status_code=403)
    form = await request.form()
    sent, expected = form.get("csrf"), expected_csrf(request)
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return PlainTextResponse("missing or wrong CSRF token: reload the page and try again", status_code=403)
    return {k: v for k, v in form.items() if isinstance(v, str)}


def safe_next(target: str | None) -> str:
    """Only a local path is a place to go back to after signing in (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class AuthMiddleware:
    """Finds the viewer of every request, refuses what their role may not open, adds security headers."""

    def __init__(self, app: ASGIApp, auth: Auth):
        self.app, self.auth = app, auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        viewer = self.auth.viewer(request.cookies.get(SESSION_COOKIE)) or self.auth.bearer_kiosk(
            request.headers.get("authorization"))
        scope["lanewatch.viewer"] = viewer
        scope["lanewatch.auth"] = self.auth  # for the audit records of handlers outside the pages (the JSON API)
        csrf_cookie = request.cookies.get(CSRF_COOKIE)
        new_csrf = None
        if viewer is None and not csrf_cookie:
            new_csrf = csrf_cookie = secrets.token_urlsafe(32)
        scope["lanewatch.csrf_cookie"] = csrf_cookie

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    if name.decode() not in headers:
                        headers.raw.append((name, value))
                if new_csrf:
                    secure = "; Secure" if self.auth.secure(request) else ""
                    headers.append("set-cookie", f"{CSRF_COOKIE}={new_csrf}; Path=/; HttpOnly; SameSite=Strict{secure}")
            await send(message)

        need = permission_for(scope["path"])
        refusal = None if need == PUBLIC else self.refusal(request, viewer, need)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def refusal(request: Request, viewer: Viewer | None, need: str) -> Response | None:
        wants_page = request.method == "GET" and "text/html" in request.headers.get("accept", "")
        if viewer is None:
            if wants_page:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)
            return JSONResponse({"error": "sign in first"}, status_code=401)
        if not viewer.may(need):
            if wants_page:
                return PlainTextResponse(f"Your role ({viewer.role}) may not open this page.", status_code=403)
            return JSONResponse({"error": f"role {viewer.role} may not do this"}, status_code=403)
        return None


# ---------------------------------------------------------------- sign-in, sign-out, kiosk
SigninPage = Callable[[Request, str | None, int], Awaitable[Response]]


def record(auth: Auth, request: Request, action: str, *, user: str | None = None, role: str | None = None,
           filters: dict | None = None, rows: int | None = None) -> None:
    viewer = viewer_of(request)
    audit.record(auth.accounts, user=user or (viewer.name if viewer else ""),
                 role=role or (viewer.role if viewer else ""), action=action, filters=filters, rows=rows,
                 address=client_address(request))


def record_from_thread(request: Request, action: str, filters: dict, rows: int | None) -> None:
    """`record`, from a handler running in the server's thread pool (the JSON API's plain functions): the
    accounts connection belongs to the event loop, so the write is handed to it."""
    auth = request.scope.get("lanewatch.auth")
    if auth is not None:
        anyio.from_thread.run_sync(lambda: record(auth, request, action, filters=filters, rows=rows))


def audited_rows(request: Request, action: str, filters: dict, rows: Iterator[T]) -> Iterator[T]:
    """The rows, passed through; once they are all sent (or the download stops), the audit log gets how many."""
    sent, done = 0, False
    try:
        for row in rows:
            yield row
            sent += 1
        done = True
    finally:
        noted = filters if done else filters | {"incomplete": True}
        try:
            record_from_thread(request, action, noted, sent)
        except RuntimeError:  # closed on the event loop itself (the client went away): write it there
            auth = request.scope.get("lanewatch.auth")
            if auth is not None:
                record(auth, request, action, filters=noted, rows=sent)


async def sign_in(request: Request, auth: Auth, render: SigninPage) -> Response:
    """POST /signin: check the form and the limiter, verify the password off the event loop, start a session."""
    form = await checked_form(request)
    if isinstance(form, Response):
        return form
    name = form.get("username", "").strip().lower()
    password = form.get("password", "")
    keys = [f"user:{name}", f"addr:{client_address(request)}"]
    wait = auth.limiter.retry_after(keys)
    if wait > 0:
        record(auth, request, "signin_failed", user=name, role="", filters={"reason": "locked"})
        response = await render(request, "signin.locked", 429)
        response.headers["retry-after"] = str(int(wait) + 1)
        return response
    stored = auth.accounts.password_hash(name) if name else None
    ok = await run_in_threadpool(verify_password, stored, password)
    user = auth.accounts.user(name) if ok else None
    if user is None:
        auth.limiter.failed(keys)
        record(auth, request, "signin_failed", user=name, role="")
        return await render(request, "signin.failed", 401)
    auth.limiter.succeeded(keys[0])
    if stored and needs_rehash(stored):
        auth.accounts.replace_hash(name, await run_in_threadpool(fresh_hash, password))
    old = viewer_of(request)
    if old is not None and old.session_hash:
        auth.accounts.end_session(old.session_hash)
    token, _ = auth.accounts.start_session(user.name, user.role, auth.web.session_max_days * 86400)
    record(auth, request, "signin", user=user.name, role=user.role)
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    auth.set_session_cookie(response, request, token, max_age=None)
    return response


async def sign_out(request: Request, auth: Auth) -> Response:
    form = await checked_form(request)
    if isinstance(form, Response):
        return form
    viewer = viewer_of(request)
    if viewer is not None and viewer.session_hash:
        record(auth, request, "signout")
        auth.accounts.end_session(viewer.session_hash)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=auth.secure(request))
    return response


async def kiosk(request: Request, auth: Auth) -> Response:
    """GET /kiosk?token=…: a wall screen's door to a read-only board; the token leaves the address bar at once."""
    configured = auth.web.kiosk_token
    given = request.query_params.get("token", "")
    if configured is None:
        return PlainTextResponse("no kiosk token is configured (web.kiosk_token)", status_code=404)
    address = client_address(request)
    keys = [f"addr:{address}"]
    if auth.limiter.retry_after(keys) > 0:
        return PlainTextResponse("too many wrong kiosk tokens; wait and try again", status_code=429)
    if not hmac.compare_digest(given.encode(), configured.get_secret_value().encode()):
        auth.limiter.failed(keys)
        record(auth, request, "signin_failed", user="kiosk", role="kiosk")
        return PlainTextResponse("wrong kiosk token", status_code=403)
    lifetime = auth.web.kiosk_session_days * 86400
    token, _ = auth.accounts.start_session("kiosk", "kiosk", lifetime, kiosk_key=auth.kiosk_key)
    record(auth, request, "kiosk", user="kiosk", role="kiosk")
    response = RedirectResponse("/", status_code=303)
    auth.set_session_cookie(response, request, token, max_age=int(lifetime))
    return response

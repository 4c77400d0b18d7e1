"""Admin pages: the accounts (add, new password, remove) and the audit log."""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from central import audit
from central.accounts import ROLES, AccountError, check_password, check_username, hash_password
from central.auth import Auth, checked_form, record, viewer_of
from central.config import CentralConfig

AUDIT_PAGE = 100


def valid(check: Callable[[str], str], value: str) -> bool:
    try:
        check(value)
    except AccountError:
        return False
    return True


def routes(config: CentralConfig, auth: Auth, page: Callable[..., Response]) -> list[BaseRoute]:
    def users_page(request: Request, message: str | None = None, error: str | None = None,
                   status: int = 200) -> Response:
        return page(request, config, "users.html", status=status, users=auth.accounts.users(), roles=ROLES,
                    message=message, error=error)

    async def users(request: Request) -> Response:
        if request.method == "GET":
            return users_page(request, message=request.query_params.get("done"))
        form = await checked_form(request)
        if isinstance(form, Response):
            return form
        action, name = form.get("action"), form.get("username", "").strip().lower()
        password = form.get("password", "")
        viewer = viewer_of(request)
        error = None
        if action not in ("add", "password", "remove"):
            error = "users.error.action"
        elif not valid(check_username, name):
            error = "users.error.name"
        elif action != "add" and auth.accounts.user(name) is None:
            error = "users.error.missing"
        elif action in ("add", "password") and not valid(check_password, password):
            error = "users.error.password"
        elif action in ("add", "password") and password != form.get("password2"):
            error = "users.error.mismatch"
        elif action == "add" and auth.accounts.user(name) is not None:
            error = "users.error.exists"
        elif action == "add" and form.get("role") not in ROLES:
            error = "users.error.role"
        elif action == "remove" and viewer is not None and name == viewer.name:
            error = "users.error.self"
        if error:
            return users_page(request, error=error, status=400)
        if action == "add":
            auth.accounts.add_user(name, form["role"], await run_in_threadpool(hash_password, password))
            record(auth, request, "user_add", filters={"name": name, "role": form["role"]})
        elif action == "password":
            auth.accounts.set_password(name, await run_in_threadpool(hash_password, password))
            record(auth, request, "user_password", filters={"name": name})
        else:
            auth.accounts.remove_user(name)
            record(auth, request, "user_remove", filters={"name": name})
        return RedirectResponse(f"/admin/users?done={action}", status_code=303)

    async def audit_log(request: Request) -> Response:
        q = request.query_params
        user, action = q.get("user") or None, q.get("action") or None
        try:
            number = max(1, int(q.get("page", "1")))
        except ValueError:
            number = 1
        entries, total = audit.entries(auth.accounts, user=user, action=action, limit=AUDIT_PAGE,
                                       offset=(number - 1) * AUDIT_PAGE)
        return page(request, config, "audit.html", entries=entries, total=total, page_number=number,
                    pages=max(1, -(-total // AUDIT_PAGE)), actions=audit.ACTIONS,
                    values={"user": user or "", "action": action or ""})

    return [Route("/admin/users", users, methods=["GET", "POST"]), Route("/admin/audit", audit_log)]

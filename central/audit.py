"""The audit log: who looked at or exported which history, with what filter, and how many rows.

Every history query, crossing view and CSV export is recorded, and so are sign-ins and account
changes. Rows are only ever added; admins read them on /admin/audit.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from central.accounts import Accounts

ACTIONS = ("history", "crossing", "export", "signin", "signin_failed", "signout", "kiosk", "user_add",
           "user_remove", "user_password")


@dataclass(frozen=True)
class Entry:
    id: int
    at: float
    user: str
    role: str
    action: str
    filters: dict
    rows: int | None
    address: str


def record(accounts: Accounts, *, user: str, role: str, action: str, filters: dict | None = None,
           rows: int | None = None, address: str = "") -> None:
    if action not in ACTIONS:
        raise ValueError(f"audit action must be one of {ACTIONS}, got {action!r}")
    with accounts.db.conn:
        accounts.db.table("audit").insert({"at": time.time(), "user": user, "role": role, "action": action,
                                     "filters": json.dumps(filters or {}, ensure_ascii=False, sort_keys=True),
                                     "rows": rows, "address": address})


def entries(accounts: Accounts, *, user: str | None = None, action: str | None = None,
            limit: int = 100, offset: int = 0) -> tuple[list[Entry], int]:
    """Newest first, with the total count of entries that match."""
    where, params = [], []
    if user:
        where.append("user = ?")
        params.append(user)
    if action:
        where.append("action = ?")
        params.append(action)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    total = accounts.db.execute(f"SELECT count(*) FROM audit {clause}", params).fetchone()[0]
    rows = accounts.db.query(f"SELECT * FROM audit {clause} ORDER BY id DESC LIMIT ? OFFSET ?",
                             [*params, limit, offset])
    return [Entry(r["id"], r["at"], r["user"], r["role"], r["action"], json.loads(r["filters"]), r["rows"],
                  r["address"]) for r in rows], total

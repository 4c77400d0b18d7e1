"""Run every benchmark module and print one table: name, value, unit, target, whether it is met.

Usage: python -m bench [substring ...]   (only modules whose name contains a substring)
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    rows: list[dict] = []
    failed = False
    for name in names:
        started = time.monotonic()
        try:
            module = importlib.import_module(f"bench.{name}")
            for row in module.run():
                rows.append({"bench": name.removeprefix("bench_"), **row})
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            rows.append({"bench": name.removeprefix("bench_"), "name": "(failed)", "value": "", "unit": "",
                         "target": "", "ok": False})
            failed = True
        print(f"# {name}: {time.monotonic() - started:.1f} s", file=sys.stderr)
    print_table(rows)
    return 1 if failed else 0


def print_table(rows: list[dict]) -> None:
    columns = ["bench", "name", "value", "unit", "target", "ok"]
    def cell(row: dict, col: str) -> str:
        value = row.get(col, "")
        if col == "ok":
            return "" if value is None or value == "" else ("yes" if value else "NO")
        if isinstance(value, float):
            return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)
    table = [[cell(r, c) for c in columns] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in table)) if table else len(c) for i, c in enumerate(columns)]
    print("| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for t in table:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(t, widths, strict=True)) + " |")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

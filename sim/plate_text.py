"""Plate numbers for simulated trucks: Vietnamese and Chinese, as printed and as normalised.

Normalised text follows DESIGN.md: uppercase, no spaces, dots, dashes or middle dots; two-row
plates are the top row followed by the bottom row. `printed` keeps the separators and puts a
newline between the rows of a two-row plate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Country = Literal["VN", "CN"]
Role = Literal["vehicle", "tractor", "trailer"]
PlateStyle = Literal["vn_yellow", "vn_white", "cn_yellow", "cn_new_energy"]

VN_SERIES_LETTERS = "ABCDEFGHKLMNPRSTUVXYZ"  # I, J, O, Q, W are not issued
CN_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # I and O are not issued
CN_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"

# Lào Cai (24) and Yên Bái (21, merged into Lào Cai in 2025) dominate; the rest come from the corridor.
_VN_PROVINCES = ["24", "21", "29", "30", "12", "14", "15", "16", "20", "34", "37", "88", "99", "98", "19", "26"]
_VN_PROVINCE_P = [0.42, 0.2, 0.06, 0.06, 0.03, 0.03, 0.04, 0.03, 0.02, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01, 0.01]
_CN_OTHER_PROVINCES = "川贵桂粤湘渝鄂豫"


@dataclass(frozen=True)
class PlateNumber:
    text: str  # normalised
    printed: str  # as painted, rows separated by "\n"
    country: Country
    rows: int
    role: Role
    style: PlateStyle


def normalise(printed: str) -> str:
    return "".join(ch for ch in printed.upper() if ch not in " .-·\n")


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(int(d)) for d in rng.integers(0, 10, n))


def vn_plate(rng: np.random.Generator, role: Role, two_row: bool) -> PlateNumber:
    """A Vietnamese truck plate; trailers and semi-trailers use the R series."""
    province = str(rng.choice(_VN_PROVINCES, p=_VN_PROVINCE_P))
    if role == "trailer":
        series = "R"
    else:
        series = str(rng.choice(["C", "D", "H", "LD"], p=[0.88, 0.04, 0.04, 0.04]))
    number = _digits(rng, 5) if rng.random() < 0.9 or role == "trailer" or series == "LD" else _digits(rng, 4)
    shown = f"{number[:3]}.{number[3:]}" if len(number) == 5 else number
    printed = f"{province}{series}\n{shown}" if two_row else f"{province}{series}-{shown}"
    # Commercial transport has carried yellow plates since 2020; older and private trucks are white.
    style: PlateStyle = "vn_yellow" if rng.random() < 0.65 else "vn_white"
    return PlateNumber(normalise(printed), printed, "VN", 2 if two_row else 1, role, style)


def cn_plate(rng: np.random.Generator, role: Role, two_row: bool) -> PlateNumber:
    """A Chinese large-vehicle plate (yellow, black text); trailers end in 挂, a few trucks are new-energy."""
    province = "云" if rng.random() < 0.75 else str(rng.choice(list(_CN_OTHER_PROVINCES)))
    if province == "云":
        city = str(
            rng.choice(["G", "A", "B", "C", "D", "F", "H", "K"], p=[0.45, 0.25, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05])
        )
    else:
        city = str(rng.choice(list(CN_LETTERS)))
    head = f"{province}{city}"
    if role == "trailer":
        tail = _cn_serial(rng, 4) + "挂"
        return PlateNumber(normalise(head + tail), f"{head}\n{tail}", "CN", 2, role, "cn_yellow")
    if not two_row and rng.random() < 0.04:
        tail = _digits(rng, 5) + str(rng.choice(["D", "F"]))  # large new-energy vehicle
        return PlateNumber(normalise(head + tail), f"{head}·{tail}", "CN", 1, role, "cn_new_energy")
    tail = _cn_serial(rng, 5)
    printed = f"{head}\n{tail}" if two_row else f"{head}·{tail}"
    return PlateNumber(normalise(printed), printed, "CN", 2 if two_row else 1, role, "cn_yellow")


def _cn_serial(rng: np.random.Generator, n: int) -> str:
    chars = list(_digits(rng, n))
    letters = int(rng.choice([0, 1, 2], p=[0.6, 0.3, 0.1]))
    for pos in rng.choice(n, size=letters, replace=False):
        chars[int(pos)] = str(rng.choice(list(CN_LETTERS)))
    return "".join(chars)


def rear_format(plate: PlateNumber) -> PlateNumber:
    """The same registration in the two-row format trucks carry at the back (same normalised text).

    Chinese large vehicles carry a one-row plate in front and a two-row one at the back (GA 36);
    Vietnamese trucks likewise mostly carry the short two-row plate at the back. Large new-energy
    plates have one format front and back.
    """
    if plate.rows == 2 or plate.style == "cn_new_energy":
        return plate
    printed = plate.printed.replace("-", "\n", 1) if plate.country == "VN" else plate.printed.replace("·", "\n", 1)
    return PlateNumber(plate.text, printed, plate.country, 2, plate.role, plate.style)

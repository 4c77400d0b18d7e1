"""Multi-frame plate voting for one track, with tractor and trailer plates kept apart.

Every accepted-format read of a track is a vote weighted by its confidence. Reads within a small
confusion-aware distance of each other are one plate; within a plate the text is voted character
by character among the reads of the commonest length, so three reads each wrong in a different
place still give the right plate. A second plate survives only when it is read consistently
(several reads, a fair share of the weight): a tractor's front plate and its trailer's `R`/`挂`
plate, each reported with its role.

Example:
    >>> votes = PlateVotes()
    >>> for text in ("24C12345", "24C12845", "24C12345"):
    ...     _ = votes.add(PlateVote(text, 0.9, rows=1))
    >>> votes.best()[0].text
    '24C12345'
"""

from __future__ import annotations

import base64
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from lanewatch.config import Section
from lanewatch.contract import PlateRead
from lanewatch.plates import plate_distance, plate_format

Role = Literal["tractor", "trailer", "vehicle"]
MAX_CROP_BYTES = 20_000


class VoteConfig(Section):
    """How reads of one track are pooled."""

    same_plate_distance: float = Field(
        2.0, ge=0, description="reads within this plate_distance are taken as the same plate"
    )
    second_plate_reads: int = Field(2, ge=1, description="reads a second, different plate needs before it is reported")
    second_plate_share: float = Field(
        0.1, ge=0, le=1, description="share of the main plate's vote weight a second plate needs"
    )
    second_plate_confidence: float = Field(
        0.5, ge=0, le=1, description="voted confidence a second plate needs (its reads must agree)"
    )
    longer_reads: int = Field(
        1, ge=1, description="reads a plate one character longer than the heavier reading needs to win over it..."
    )
    longer_share: float = Field(
        0.25,
        ge=0,
        le=10,
        description="...and this share of the heavier reading's weight (a lost character "
        "leaves a shorter text that may still fit a format: 98C2782 of 98C27827)",
    )
    lost_character_doubt: float = Field(
        0.5,
        ge=0,
        le=1,
        description="factor on a plate's confidence when a reading one character longer that holds it was outvoted",
    )
    rear_plate_reads: int = Field(
        2, ge=1, description="agreeing reads a plate seen only from behind needs to stand beside a different plate "
        "seen only from the front (a tractor's plate and its trailer's, from a rear plate camera)"
    )
    crop_height_px: int = Field(48, ge=16, le=160, description="height of the plate thumbnail attached to events")


@dataclass(frozen=True)
class PlateVote:
    """One read of the track's plate: what a `PlateResult` contributes."""

    text: str
    confidence: float
    rows: Literal[1, 2] = 1
    role_hint: Role | None = None  # from where the plate sits on the truck, when the caller knows
    crop: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass
class _Cluster:
    votes: list[PlateVote]

    @property
    def weight(self) -> float:
        return sum(v.confidence for v in self.votes)

    @property
    def anchor(self) -> PlateVote:
        return max(self.votes, key=lambda v: v.confidence)


@dataclass(frozen=True)
class _Consensus:
    text: str
    confidence: float
    rows: Literal[1, 2]
    role_hint: Role | None
    crop: np.ndarray | None
    n_reads: int
    weight: float


class PlateVotes:
    """The plate reads of one track and their vote."""

    def __init__(self, config: VoteConfig | None = None):
        self.config = config or VoteConfig()
        self._votes: list[PlateVote] = []

    def __len__(self) -> int:
        return len(self._votes)

    @classmethod
    def pooled(cls, *parts: PlateVotes) -> PlateVotes:
        """One vote over the reads of several cameras of one truck (its front and its rear plate camera)."""
        pool = cls(parts[0].config if parts else None)
        for part in parts:
            pool._votes.extend(part._votes)
        return pool

    def add(self, vote: PlateVote) -> bool:
        """Count a read; False (and ignored) when it fits no plate format."""
        if plate_format(vote.text) is None or not 0 < vote.confidence <= 1:
            return False
        self._votes.append(vote)
        return True

    def best(self) -> tuple[PlateRead, ...]:
        """The track's plates, the vehicle's or tractor's first: one, or two when a second is read consistently."""
        clusters = self._clusters()
        if not clusters:
            return ()
        plates = [_consensus(clusters[0], self.config)]
        main_view = _view(clusters[0])
        # A plate read only from behind beside a different one read only from the front: the tractor's
        # plate and its trailer's. The rear plate camera may read it less often than the front camera
        # reads the tractor's, so it needs agreeing reads, not a share of the weight.
        paired = [c for c in clusters[1:] if {main_view, _view(c)} == {"front", "rear"}]
        if paired and len(paired[0].votes) >= self.config.rear_plate_reads:
            second = _consensus(paired[0], self.config)
            if second.confidence >= self.config.second_plate_confidence:
                plates.append(second)
        # Otherwise a trailer's plate may be in view for a few frames only, while the tractor's is read
        # until it settles: a second plate needs agreeing reads more than a large share of the weight.
        for cluster in clusters[1:] if len(plates) == 1 else ():
            if (
                len(cluster.votes) >= self.config.second_plate_reads
                and cluster.weight >= self.config.second_plate_share * clusters[0].weight
                and (second := _consensus(cluster, self.config)).confidence >= self.config.second_plate_confidence
            ):
                plates.append(second)
                break
        roles = _roles(plates)
        reads = [self._plate_read(p, role) for p, role in zip(plates, roles, strict=True)]
        return tuple(sorted(reads, key=lambda r: r.role == "trailer"))  # stable: the main plate stays first

    def _clusters(self) -> list[_Cluster]:
        clusters: list[_Cluster] = []
        for vote in sorted(self._votes, key=lambda v: v.confidence, reverse=True):
            for cluster in clusters:
                if (
                    _is_trailer(vote.text) == _is_trailer(cluster.anchor.text)
                    and plate_distance(vote.text, cluster.anchor.text) <= self.config.same_plate_distance
                ):
                    cluster.votes.append(vote)
                    break
            else:
                clusters.append(_Cluster([vote]))
        return sorted(clusters, key=lambda c: c.weight, reverse=True)

    def _plate_read(self, plate: _Consensus, role: Role) -> PlateRead:
        fmt = plate_format(plate.text)
        crop = encode_crop(plate.crop, self.config.crop_height_px) if plate.crop is not None else None
        return PlateRead(
            text=plate.text,
            country=fmt.country if fmt else None,
            rows=plate.rows,
            role=role,
            confidence=round(plate.confidence, 4),
            valid_format=fmt is not None,
            crop_jpeg_b64=crop,
        )


def _consensus(cluster: _Cluster, config: VoteConfig) -> _Consensus:
    """Character-wise weighted vote among the cluster's reads of one length: the heaviest length,
    or a longer one that holds the heavier reading with one character more (see `_lost_character`)."""
    by_length: dict[int, list[PlateVote]] = defaultdict(list)
    for vote in cluster.votes:
        by_length[len(vote.text)].append(vote)
    voted = {length: _vote_text(votes) for length, votes in by_length.items()}
    weight = {length: sum(v.confidence for v in votes) for length, votes in by_length.items()}
    length = max(weight, key=lambda n: weight[n])
    doubt = 1.0
    longer = [n for n in weight if n == length + 1 and _lost_character(voted[length][0], voted[n][0])]
    if longer:
        n = longer[0]
        if len(by_length[n]) >= config.longer_reads and weight[n] >= config.longer_share * weight[length]:
            length = n  # the recogniser drops characters far more often than it invents a whole one
        else:
            doubt = config.lost_character_doubt  # the plate may have lost a character in every read but one
    group = by_length[length]
    text, agreement = voted[length]
    length_share = weight[length] / cluster.weight
    agreeing = [v for v in group if v.text == text] or group
    evidence = 1.0 - float(np.prod([1.0 - v.confidence for v in agreeing]))
    rows_tally: Counter[int] = Counter()
    hints: Counter[Role] = Counter()
    for vote in agreeing:
        rows_tally[vote.rows] += 1
        if vote.role_hint is not None:
            hints[vote.role_hint] += 1
    hint: Role | None = hints.most_common(1)[0][0] if hints else None
    if _view(cluster) == "both":
        hint = "vehicle"  # read on the truck's front and on its back: a rigid truck's own plate, twice
    with_crop = [v for v in agreeing if v.crop is not None]
    crop = max(with_crop, key=lambda v: v.confidence).crop if with_crop else None
    rows: Literal[1, 2] = 2 if rows_tally.most_common(1)[0][0] == 2 else 1
    return _Consensus(
        text,
        agreement * length_share * evidence * doubt,
        rows,
        hint,
        crop,
        len(cluster.votes),
        cluster.weight,
    )


def _vote_text(group: list[PlateVote]) -> tuple[str, float]:
    """The per-character weighted winner of reads of one length, and its weakest character's share."""
    chars, agreement = [], 1.0
    for i in range(len(group[0].text)):
        tally: defaultdict[str, float] = defaultdict(float)
        for vote in group:
            tally[vote.text[i]] += vote.confidence
        ch, weight = max(tally.items(), key=lambda kv: kv[1])
        chars.append(ch)
        agreement = min(agreement, weight / sum(tally.values()))
    text = "".join(chars)
    if plate_format(text) is None:  # the per-character winners mix two formats: take the best whole read
        best = max(group, key=lambda v: v.confidence)
        text = best.text
        agreement = sum(v.confidence for v in group if v.text == text) / sum(v.confidence for v in group)
    return text, agreement


def _lost_character(short: str, long: str) -> bool:
    """Whether `short` is `long` with one character left out (a digit merged into its twin by CTC
    decoding, a faint first or last character): `98C2782` of `98C27827`."""
    return len(long) == len(short) + 1 and any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _view(cluster: _Cluster) -> Literal["front", "rear", "both"]:
    """Where the cluster's reads saw the plate: a `trailer` hint is a rear view, anything else the front."""
    rear = {vote.role_hint == "trailer" for vote in cluster.votes}
    return "both" if len(rear) == 2 else "rear" if rear == {True} else "front"


def _is_trailer(text: str) -> bool:
    fmt = plate_format(text)
    return fmt is not None and fmt.kind == "trailer"


_OTHER_ROLE: dict[Role | None, Role] = {"tractor": "trailer", "trailer": "tractor"}


def _roles(plates: list[_Consensus]) -> list[Role]:
    """Trailer formats (VN `R` series, CN `挂`) name themselves; otherwise where the plate was seen."""
    if len(plates) == 1:
        if _is_trailer(plates[0].text):
            return ["trailer"]
        # Seen from behind alone, a plate of a non-trailer format is the truck's own (a rigid truck's
        # rear plate): a trailer plate carries its format (R series, 挂).
        return ["vehicle" if plates[0].role_hint in (None, "trailer") else plates[0].role_hint]
    first, second = (_is_trailer(p.text) for p in plates)
    if first != second:
        return ["trailer", "tractor"] if first else ["tractor", "trailer"]
    h0, h1 = plates[0].role_hint, plates[1].role_hint
    if h0 in _OTHER_ROLE and h1 in (None, _OTHER_ROLE[h0]):
        return [h0, _OTHER_ROLE[h0]]  # type: ignore[list-item]
    if h1 in _OTHER_ROLE and h0 is None:
        return [_OTHER_ROLE[h1], h1]  # type: ignore[list-item]
    return ["vehicle", "vehicle"]


def encode_crop(crop: np.ndarray, height_px: int = 48) -> str | None:
    """A small JPEG of the plate, base64, under `MAX_CROP_BYTES`; None if it cannot be made so small."""
    if crop.size == 0:
        return None
    h, w = crop.shape[:2]
    scale = min(1.0, height_px / h)
    small = (
        cv2.resize(crop, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
        if scale < 1
        else crop
    )
    for quality in (85, 70, 50, 30):
        ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok and len(buf) * 4 / 3 < MAX_CROP_BYTES:
            return base64.b64encode(buf.tobytes()).decode("ascii")
    return None

"""Train the project's truck (+ plate) detector on simulated frames and export it to ONNX.

The network is a small anchor-free detector (three strides, FPN neck, one box + class head per cell)
whose ONNX output is exactly the Ultralytics YOLOv8 layout, `[1, 4 + classes, N]` with centre x,
centre y, width, height in input pixels and sigmoid class scores, so the edge runs it with the same
code as a user's own `yolo11n.onnx`.

Runs in its own venv (torch is never a runtime dependency):

    python3 -m venv /tmp/torch-venv
    /tmp/torch-venv/bin/pip install torch==2.13.0 numpy opencv-python-headless onnx
    .venv/bin/python models/make_training_data.py --out /tmp/vision-data --seeds 1000-1023
    /tmp/torch-venv/bin/python models/train_detector.py train --data /tmp/vision-data \\
        --out models/lanewatch-truck-512x288.onnx   # trains, evaluates on held-out seeds, exports

Training data: `lanewatch-sim generate --label-every N` output folders (`images/{camera}/*.jpg` and
YOLO `labels/{camera}/*.txt`, class 0 truck, 1 plate). The folders of the last `--val-seeds` seeds are
held out for the mAP@0.5 on the model card. `--init` fine-tunes from an earlier run's .pt or from a shipped
model's .onnx (its export folded the batch norms into the convolutions: they are rebuilt as a bias and stay
frozen; re-exported untrained, the weights give v2's outputs exactly). Everything is seeded; on the same
machine and thread count the same data gives the same weights.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - torch's own convention
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ("truck", "plate")
STRIDES = (8, 16, 32)
# A ground-truth box is learnt by the level whose cells' largest distance to its sides falls in this range.
SCALE_RANGES = ((0, 64), (64, 128), (128, 1e9))
CENTRE_RADIUS = 2.5  # cells (in strides) around a box centre that may predict it


def _load_letterbox():
    """The edge's own input transform, loaded by path: the training venv has no pydantic or supervision."""
    spec = importlib.util.spec_from_file_location("letterbox", ROOT / "edge" / "detect" / "letterbox.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["letterbox"] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


LB = _load_letterbox()


# --------------------------------------------------------------------------- network
def conv(c_in: int, c_out: int, k: int = 3, s: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class Residual(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = conv(c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ContextPool(nn.Module):
    """Max-pools of growing size at the coarsest level, so a truck that fills the frame is seen whole
    (the cheap way to a receptive field larger than the image, as YOLO's SPPF)."""

    def __init__(self, c: int):
        super().__init__()
        self.reduce = conv(c, c // 2, k=1)
        self.pool = nn.MaxPool2d(5, 1, 2)
        self.fuse = conv(c // 2 * 4, c, k=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduce(x)
        p1 = self.pool(x)
        p2 = self.pool(p1)
        return self.fuse(torch.cat([x, p1, p2, self.pool(p2)], 1))


class TinyDetector(nn.Module):
    """~0.25 GMAC at 512×288. Training returns raw maps; `export=True` decodes to the YOLOv8 layout."""

    def __init__(self, num_classes: int = len(CLASSES), input_wh: tuple[int, int] = (512, 288)):
        super().__init__()
        self.num_classes, self.input_wh, self.export = num_classes, input_wh, False
        self.stem = nn.Sequential(conv(3, 16, s=2), conv(16, 24, s=2))
        self.c3 = nn.Sequential(conv(24, 32, s=2), Residual(32))
        self.c4 = nn.Sequential(conv(32, 64, s=2), Residual(64))
        self.c5 = nn.Sequential(conv(64, 96, s=2), Residual(96), ContextPool(96))
        self.p5 = conv(96, 64, k=1)
        self.p4 = nn.Sequential(conv(128, 64, k=1), conv(64, 64))
        self.p3 = nn.Sequential(conv(96, 32, k=1), conv(32, 32))
        self.heads = nn.ModuleList(
            nn.Sequential(conv(c, c), nn.Conv2d(c, 4 + num_classes, 1)) for c in (32, 64, 64)
        )
        for head in self.heads:  # start with low class scores: most cells are background
            nn.init.constant_(head[-1].bias[4:], -4.0)
        w, h = input_wh
        points, strides = [], []
        for s in STRIDES:
            ys, xs = torch.meshgrid(torch.arange(h // s), torch.arange(w // s), indexing="ij")
            points.append(torch.stack([(xs.flatten() + 0.5) * s, (ys.flatten() + 0.5) * s], 1).float())
            strides.append(torch.full((xs.numel(),), float(s)))
        self.register_buffer("points", torch.cat(points), persistent=False)  # [N, 2] cell centres, input px
        self.register_buffer("strides", torch.cat(strides), persistent=False)  # [N]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c3 = self.c3(self.stem(x))
        c4 = self.c4(c3)
        c5 = self.c5(c4)
        p5 = self.p5(c5)
        p4 = self.p4(torch.cat([F.interpolate(p5, scale_factor=2.0, mode="nearest"), c4], 1))
        p3 = self.p3(torch.cat([F.interpolate(p4, scale_factor=2.0, mode="nearest"), c3], 1))
        maps = zip(self.heads, (p3, p4, p5), strict=True)
        raw = torch.cat([head(p).flatten(2) for head, p in maps], 2)  # [B, 4+C, N]
        if not self.export:
            return raw
        ltrb = F.softplus(raw[:, :4]) * self.strides  # distances from the cell centre to the box sides
        px, py = self.points[:, 0], self.points[:, 1]
        x1, y1, x2, y2 = px - ltrb[:, 0], py - ltrb[:, 1], px + ltrb[:, 2], py + ltrb[:, 3]
        box = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], 1)
        return torch.cat([box, torch.sigmoid(raw[:, 4:])], 1)


def decode_xyxy(raw: torch.Tensor, points: torch.Tensor, strides: torch.Tensor) -> torch.Tensor:
    """Raw [B, 4+C, N] -> boxes [B, N, 4] xyxy in input px (the same decode as the export)."""
    ltrb = F.softplus(raw[:, :4]).transpose(1, 2) * strides[None, :, None]
    return torch.cat([points[None] - ltrb[..., :2], points[None] + ltrb[..., 2:]], 2)


# --------------------------------------------------------------------------- data
def read_labels(path: Path, w: int, h: int) -> np.ndarray:
    """YOLO label file -> [M, 5] (class, x1, y1, x2, y2) in frame px."""
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    out = np.zeros((len(rows), 5), np.float32)
    for i, (c, cx, cy, bw, bh) in enumerate(rows):
        cx, cy, bw, bh = float(cx) * w, float(cy) * h, float(bw) * w, float(bh) * h
        out[i] = (int(c), cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
    return out


class Frames:
    """Labelled frames of some seed folders, kept JPEG-encoded and letterboxed when drawn, so that a larger
    input (640×384: 0.7 MB a frame decoded) fits in memory; labels are in input px."""

    def __init__(self, folders: list[Path], input_wh: tuple[int, int]):
        self.input_wh = input_wh
        self.jpegs: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []
        for folder in folders:
            world = json.loads((folder / "world.json").read_text())
            sizes = {c["id"]: (c.get("width", world["width"]), c.get("height", world["height"]))
                     for lane in world["lanes"] for c in lane["cameras"]}
            for image_path in sorted((folder / "images").glob("*/*.jpg")):
                label_path = folder / "labels" / image_path.parent.name / (image_path.stem + ".txt")
                data = np.frombuffer(image_path.read_bytes(), np.uint8)
                _, box = LB.letterbox(np.zeros((*sizes[image_path.parent.name][::-1], 3), np.uint8), input_wh)
                labels = read_labels(label_path, *box.frame_wh)
                labels[:, 1:] = labels[:, 1:] * box.scale + np.array([box.pad_x, box.pad_y] * 2, np.float32)
                self.jpegs.append(data)
                self.targets.append(labels)

    def __len__(self) -> int:
        return len(self.jpegs)

    def image(self, i: int) -> np.ndarray:
        padded, _ = LB.letterbox(cv2.imdecode(self.jpegs[i], cv2.IMREAD_COLOR), self.input_wh)
        return padded


def augment(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mirror, lighting, softness (cameras sharper or blurrier than the simulator's) and sensor noise."""
    labels = labels.copy()
    h, w = image.shape[:2]
    if rng.random() < 0.5:
        image = image[:, ::-1]
        labels[:, [1, 3]] = w - labels[:, [3, 1]]
    img = image.astype(np.float32)
    img = img * rng.uniform(0.6, 1.4) + rng.uniform(-30, 30)  # contrast, brightness
    img = img * rng.uniform(0.85, 1.15, size=3)  # colour cast
    if rng.random() < 0.3:
        f = rng.uniform(0.45, 0.9)
        small = cv2.resize(img, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        img = img + rng.normal(0, rng.uniform(1, 8), img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), labels


def to_batch(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.concatenate([LB.to_tensor(im) for im in images]))


# --------------------------------------------------------------------------- loss
def box_iou_pairs(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """IoU and GIoU of matched box pairs [P, 4] xyxy."""
    lt, rb = torch.max(a[:, :2], b[:, :2]), torch.min(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    area_a, area_b = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(1), (b[:, 2:] - b[:, :2]).clamp(min=0).prod(1)
    union = area_a + area_b - inter + 1e-6
    iou = inter / union
    hull = (torch.max(a[:, 2:], b[:, 2:]) - torch.min(a[:, :2], b[:, :2])).clamp(min=0).prod(1) + 1e-6
    return iou, iou - (hull - union) / hull


def level_ranges(strides: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per cell: the range of box reach its level learns (see SCALE_RANGES)."""
    level = torch.tensor([STRIDES.index(int(s)) for s in strides.tolist()])
    return torch.tensor([r[0] for r in SCALE_RANGES])[level], torch.tensor([r[1] for r in SCALE_RANGES])[level]


def assign(points: torch.Tensor, strides: torch.Tensor, ranges: tuple[torch.Tensor, torch.Tensor],
           labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """For one image: the ground-truth index each cell learns (-1: background), and the gt [M, 5]."""
    n = points.shape[0]
    if len(labels) == 0:
        return torch.full((n,), -1, dtype=torch.long), torch.zeros((0, 5))
    gt = torch.from_numpy(labels)
    x1, y1, x2, y2 = gt[:, 1], gt[:, 2], gt[:, 3], gt[:, 4]
    px, py = points[:, 0:1], points[:, 1:2]
    ltrb = torch.stack([px - x1, py - y1, x2 - px, y2 - py], 2)  # [N, M, 4]
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    radius = CENTRE_RADIUS * strides[:, None]
    reach = ltrb.max(2).values
    ok = ((ltrb.min(2).values > 0) & ((px - cx).abs() < radius) & ((py - cy).abs() < radius)
          & (reach >= ranges[0][:, None]) & (reach <= ranges[1][:, None]))
    area = ((x2 - x1) * (y2 - y1))[None].expand(n, -1)
    best_cost, best = torch.where(ok, area, torch.full_like(area, float("inf"))).min(1)  # smallest box wins
    owner = torch.where(torch.isfinite(best_cost), best, torch.full_like(best, -1))
    # A box thinner than the cell spacing (a far plate) contains no cell centre: its nearest fine cell learns it.
    fine = strides == STRIDES[0]
    for m in range(gt.shape[0]):
        if not (owner == m).any():
            d = ((points[:, 0] - cx[m]) ** 2 + (points[:, 1] - cy[m]) ** 2).masked_fill(~fine, float("inf"))
            owner[int(d.argmin())] = m
    return owner, gt


def detection_loss(raw: torch.Tensor, points: torch.Tensor, strides: torch.Tensor,
                   ranges: tuple[torch.Tensor, torch.Tensor],
                   batch_labels: list[np.ndarray], bottom_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    boxes = decode_xyxy(raw, points, strides)  # [B, N, 4]
    logits = raw[:, 4:].transpose(1, 2)  # [B, N, C]
    cls_target = torch.zeros_like(logits)
    box_losses, l1_losses, positives = [], [], 0
    for i, labels in enumerate(batch_labels):
        owner, gt = assign(points, strides, ranges, labels)
        pos = owner >= 0
        if not pos.any():
            continue
        matched = gt[owner[pos]]
        pred = boxes[i, pos]
        iou, giou = box_iou_pairs(pred, matched[:, 1:])
        # The class target is the box's IoU: scores that rank well-placed boxes first help NMS keep the right one.
        cls_target[i, pos, matched[:, 0].long()] = iou.detach().clamp(min=0.05)
        box_losses.append(1 - giou)
        s = strides[pos][:, None]
        # The lane lines fire on the box's bottom centre: its bottom edge may weigh more (bottom_weight).
        side_weight = pred.new_tensor([1.0, 1.0, 1.0, bottom_weight])
        l1_losses.append((((pred - matched[:, 1:]) / s).abs() * side_weight).sum(1))
        positives += int(pos.sum())
    p = torch.sigmoid(logits)
    focal = (p - cls_target).abs().pow(2.0)
    bce = F.binary_cross_entropy_with_logits(logits, cls_target, reduction="none")
    cls_loss = (bce * focal).sum() / max(1, positives)
    if box_losses:
        box_loss = torch.cat(box_losses).mean()
        l1_loss = torch.cat(l1_losses).mean()
    else:
        box_loss = l1_loss = raw.sum() * 0
    total = cls_loss + 2.0 * box_loss + 1.0 * l1_loss
    return total, {"cls": cls_loss.item(), "giou": box_loss.item(), "l1": l1_loss.item()}


# --------------------------------------------------------------------------- evaluation
def nms_numpy(out: np.ndarray, conf: float = 0.25, iou: float = 0.5) -> list[tuple[int, float, np.ndarray]]:
    """Exported output [4+C, N] -> [(class, score, xyxy)], per-class NMS (as the edge does)."""
    scores = out[4:]
    cls = scores.argmax(0)
    score = scores.max(0)
    keep = score >= conf
    cx, cy, w, h = out[:4, keep]
    xywh = np.stack([cx - w / 2, cy - h / 2, w, h], 1)
    chosen = cv2.dnn.NMSBoxesBatched(xywh.tolist(), score[keep].tolist(), cls[keep].tolist(), conf, iou)
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    return [(int(cls[keep][j]), float(score[keep][j]), xyxy[j]) for j in np.asarray(chosen, int).reshape(-1)]


def iou_one(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt, rb = np.maximum(a[:2], b[:, :2]), np.minimum(a[2:], b[:, 2:])
    inter = np.clip(rb - lt, 0, None).prod(1)
    return inter / ((a[2:] - a[:2]).prod() + (b[:, 2:] - b[:, :2]).prod(1) - inter + 1e-9)


def average_precision(dets: list[tuple[int, float, int]], n_gt: int) -> float:
    """All-point interpolated AP from (image, score, is_true_positive) tuples."""
    if n_gt == 0:
        return float("nan")
    dets = sorted(dets, key=lambda d: -d[1])
    tp = np.cumsum([d[2] for d in dets]) if dets else np.zeros(0)
    fp = np.cumsum([1 - d[2] for d in dets]) if dets else np.zeros(0)
    recall = np.concatenate([[0], tp / n_gt, [1]])
    precision = np.concatenate([[1], tp / np.maximum(tp + fp, 1e-9), [0]])
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = max(precision[i], precision[i + 1])
    return float(np.sum((recall[1:] - recall[:-1]) * precision[1:]))


def evaluate(model: TinyDetector, frames: Frames) -> dict[str, float]:
    """mAP@0.5 per class (VOC all-point), on the exported-form outputs."""
    model.eval()
    model.export = True
    per_class: dict[int, list[tuple[int, float, int]]] = {c: [] for c in range(len(CLASSES))}
    n_gt = {c: 0 for c in range(len(CLASSES))}
    with torch.no_grad():
        for start in range(0, len(frames), 32):
            batch = range(start, min(start + 32, len(frames)))
            out = model(to_batch([frames.image(i) for i in batch])).numpy()
            for k, o in enumerate(out):
                labels = frames.targets[start + k]
                for c in range(len(CLASSES)):
                    gts = labels[labels[:, 0] == c][:, 1:]
                    n_gt[c] += len(gts)
                    used = np.zeros(len(gts), bool)
                    for cls, score, box in sorted(nms_numpy(o, conf=0.01), key=lambda d: -d[1]):
                        if cls != c:
                            continue
                        hit = 0
                        if len(gts):
                            ious = iou_one(box, gts)
                            j = int(ious.argmax())
                            if ious[j] >= 0.5 and not used[j]:
                                used[j], hit = True, 1
                        per_class[c].append((start + k, score, hit))
    model.export = False
    aps = {CLASSES[c]: average_precision(per_class[c], n_gt[c]) for c in per_class}
    return {**{f"AP50_{k}": v for k, v in aps.items()}, "mAP50": float(np.nanmean(list(aps.values())))}


# --------------------------------------------------------------------------- commands
def train_command(args: argparse.Namespace) -> int:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(args.seed)
    input_wh = (args.width, args.height)
    folders = sorted(p for p in Path(args.data).iterdir() if (p / "images").is_dir())
    held_out = set(args.val.split(","))
    train_dirs = [p for p in folders if p.name not in held_out]
    val_dirs = [p for p in folders if p.name in held_out]
    if len(val_dirs) != len(held_out):
        raise SystemExit(f"--val names {sorted(held_out)}, but {args.data} holds {[p.name for p in folders]}")
    started = time.monotonic()
    train, val = Frames(train_dirs, input_wh), Frames(val_dirs, input_wh)
    print(f"{len(train)} training frames from {len(train_dirs)} seeds, {len(val)} held out "
          f"from {[p.name for p in val_dirs]} ({time.monotonic() - started:.0f} s to load)", flush=True)

    model = TinyDetector(input_wh=input_wh)
    frozen_norms = bool(args.init) and args.init.endswith(".onnx")
    if frozen_norms:
        load_exported(model, Path(args.init))
        print(f"started from {args.init} (exported weights; batch norms frozen as folded)")
    elif args.init:  # the network is fully convolutional: weights carry over to another input size
        missing, _ = model.load_state_dict(torch.load(args.init), strict=False)
        print(f"started from {args.init}; new layers: {sorted({k.rsplit('.', 2)[0] for k in missing})}")
    ranges = level_ranges(model.strides)
    per_epoch = min(args.per_epoch or len(train), len(train))
    steps_per_epoch = math.ceil(per_epoch / args.batch)
    total_steps = steps_per_epoch * args.epochs
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=args.lr, total_steps=total_steps, pct_start=0.1)
    step = 0
    for epoch in range(args.epochs):
        model.train()
        if frozen_norms:  # their statistics were folded into the convolutions at export and cannot be recovered
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        order = rng.permutation(len(train))[:per_epoch]
        for b in range(steps_per_epoch):
            idx = order[b * args.batch:(b + 1) * args.batch]
            pairs = [augment(train.image(i), train.targets[i], rng) for i in idx]
            raw = model(to_batch([p[0] for p in pairs]))
            loss, parts = detection_loss(raw, model.points, model.strides, ranges, [p[1] for p in pairs],
                                         args.bottom_weight)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimiser.step()
            schedule.step()
            step += 1
            if step % 20 == 0:
                print(f"epoch {epoch + 1} step {step}/{total_steps} loss {loss.item():.3f} "
                      + " ".join(f"{k} {v:.3f}" for k, v in parts.items())
                      + f" ({time.monotonic() - started:.0f} s)", flush=True)
        # A checkpoint per epoch, in the deployed form, so a run can be judged (and used) before it ends.
        checkpoint = Path(args.out).with_suffix(f".epoch{epoch + 1}.onnx")
        torch.save(model.state_dict(), checkpoint.with_suffix(".pt"))
        export(model, checkpoint)
        model.export = False
        if (epoch + 1) % 2 == 0 or epoch + 1 == args.epochs:
            metrics = evaluate(model, val)
            print(f"epoch {epoch + 1}: " + " ".join(f"{k} {v:.3f}" for k, v in metrics.items()), flush=True)
    train_s = time.monotonic() - started
    torch.save(model.state_dict(), Path(args.out).with_suffix(".pt"))  # for models/make_test_models.py
    export(model, Path(args.out))
    write_card(args, Path(args.out), metrics, train_s, len(train), len(val),
               [p.name for p in train_dirs], [p.name for p in val_dirs])
    return 0


def evaluate_command(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    input_wh = (args.width, args.height)
    model = TinyDetector(input_wh=input_wh)
    model.load_state_dict(torch.load(args.weights))
    frames = Frames([Path(args.data) / name for name in args.val.split(",")], input_wh)
    print(json.dumps({"weights": Path(args.weights).name, "input": [args.height, args.width], "frames": len(frames),
                      **{k: round(v, 4) for k, v in evaluate(model, frames).items()}}))
    return 0


def export(model: TinyDetector, out: Path) -> None:
    import onnx

    model.eval()
    model.export = True
    w, h = model.input_wh
    torch.onnx.export(model, (torch.zeros(1, 3, h, w),), str(out), input_names=["images"], output_names=["output0"],
                      opset_version=17, dynamo=False)
    proto = onnx.load(str(out))
    names = {i: n for i, n in enumerate(CLASSES)}
    for key, value in (("names", str(names)), ("imgsz", str([h, w])), ("task", "detect"),
                       ("author", "lanewatch"), ("license", "Apache-2.0")):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))


def load_exported(model: TinyDetector, path: Path) -> None:
    """Start from a shipped model's ONNX file, whose export folded each batch norm into its convolution.

    The ONNX graph runs the convolutions in the order the network registers them; each folded one gets its
    weights and, through its batch norm set to add the folded bias and nothing else, its bias."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    weights = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    convs = [node for node in proto.graph.node if node.op_type == "Conv"]
    layers = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    norms = {id(seq[0]): seq[1] for seq in model.modules()
             if isinstance(seq, nn.Sequential) and len(seq) > 1 and isinstance(seq[1], nn.BatchNorm2d)}
    if len(convs) != len(layers):
        raise SystemExit(f"{path}: {len(convs)} convolutions, but TinyDetector has {len(layers)}")
    with torch.no_grad():
        for node, layer in zip(convs, layers, strict=True):
            w = torch.from_numpy(weights[node.input[1]].copy())
            b = torch.from_numpy(weights[node.input[2]].copy()) if len(node.input) > 2 else torch.zeros(w.shape[0])
            if w.shape != layer.weight.shape:
                raise SystemExit(f"{path}: convolution {node.name} is {tuple(w.shape)}, "
                                 f"TinyDetector's is {tuple(layer.weight.shape)}")
            layer.weight.copy_(w)
            norm = norms.get(id(layer))
            if norm is None:
                layer.bias.copy_(b)
                continue
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0)
            norm.weight.fill_(math.sqrt(1.0 + norm.eps))
            norm.bias.copy_(b)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_card(args: argparse.Namespace, out: Path, metrics: dict[str, float], train_s: float, n_train: int,
               n_val: int, train_seeds: list[str], val_seeds: list[str]) -> None:
    """Record the figures of this run; models/<name>.md is written by hand from them."""
    record = {
        "file": out.name, "sha256": sha256_of(out), "bytes": out.stat().st_size,
        "input": [1, 3, args.height, args.width], "classes": {str(i): n for i, n in enumerate(CLASSES)},
        "metrics": {k: round(v, 4) for k, v in metrics.items()}, "train_seconds": round(train_s),
        "train_frames": n_train, "val_frames": n_val, "train_seeds": train_seeds, "val_seeds": val_seeds,
        "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "seed": args.seed, "threads": args.threads,
        "per_epoch": args.per_epoch, "bottom_weight": args.bottom_weight,
        "init": Path(args.init).name if args.init else None,
        "torch": torch.__version__,
    }
    out.with_suffix(".train.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train, evaluate on the held-out seeds, export ONNX")
    train.add_argument("--data", required=True, help="folder of simulator outputs, one per seed")
    train.add_argument("--out", required=True, help="ONNX file to write")
    train.add_argument("--val", default="seed-1011,seed-1027",
                       help="comma-separated folder names held out for the mAP on the model card")
    train.add_argument("--per-epoch", type=int, default=3000, help="frames drawn per epoch (0: all)")
    train.add_argument("--width", type=int, default=512)
    train.add_argument("--height", type=int, default=288)
    train.add_argument("--epochs", type=int, default=6)
    train.add_argument("--batch", type=int, default=16)
    train.add_argument("--lr", type=float, default=3e-3)
    train.add_argument("--seed", type=int, default=20261130)
    train.add_argument("--threads", type=int, default=2)
    train.add_argument("--init", default=None,
                       help="start from these weights: a .pt of an earlier run, or a shipped model's .onnx")
    train.add_argument("--bottom-weight", type=float, default=1.0,
                       help="weight of the box bottom's L1 term against the other sides' (v3: 3)")
    train.set_defaults(func=train_command)
    score = sub.add_parser("evaluate", help="mAP@0.5 of saved weights (.pt) on some seed folders")
    score.add_argument("--data", required=True, help="folder of simulator outputs, one per seed")
    score.add_argument("--weights", required=True, help=".pt of a run")
    score.add_argument("--val", required=True, help="comma-separated folder names to score")
    score.add_argument("--width", type=int, default=512)
    score.add_argument("--height", type=int, default=288)
    score.add_argument("--threads", type=int, default=2)
    score.set_defaults(func=evaluate_command)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""Write the ONNX fixtures of tests/data from the trained model (run in the training venv):

    /tmp/torch-venv/bin/python models/make_test_models.py --weights /tmp/lanewatch-truck-v3.pt --size 640x384

* `coco-layout.onnx`: the project's network in a user's export's clothes: 80 COCO classes
  (truck = 7, bus = 5 carries half the truck score, person = 0 carries the plate score) with
  Ultralytics' `names` metadata; the edge must find the same trucks with the class map
  {7: truck, 5: truck}.
* `transposed-output.onnx` ([1, N, 6] instead of [1, 6, N]) and `gray-input.onnx` ([1, 1, H, W]):
  layouts the edge must refuse at start, tiny and untrained.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import onnx
import torch
from torch import nn
from train_detector import TinyDetector

OUT = Path(__file__).resolve().parent.parent / "tests" / "data"
COCO = ("person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant stop_sign "
        "parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe backpack umbrella handbag tie "
        "suitcase frisbee skis snowboard sports_ball kite baseball_bat baseball_glove skateboard surfboard "
        "tennis_racket bottle wine_glass cup fork knife spoon bowl banana apple sandwich orange broccoli carrot "
        "hot_dog pizza donut cake chair couch potted_plant bed dining_table toilet tv laptop mouse remote keyboard "
        "cell_phone microwave oven toaster sink refrigerator book clock vase scissors teddy_bear hair_drier "
        "toothbrush").split()


class CocoLayout(nn.Module):
    def __init__(self, detector: TinyDetector):
        super().__init__()
        self.detector = detector

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.detector(x)  # [1, 6, N]: box, truck, plate
        box, truck, plate = out[:, :4], out[:, 4:5], out[:, 5:6]
        zeros = torch.zeros_like(truck)
        classes = [plate] + [zeros] * 4 + [truck * 0.5, zeros, truck] + [zeros] * 72
        return torch.cat([box, *classes], 1)


class Transposed(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Conv2d(3, 6, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(nn.functional.avg_pool2d(x, 32)).flatten(2).transpose(1, 2)


def save(model: nn.Module, shape: tuple[int, ...], path: Path, names: dict[int, str] | None = None) -> None:
    model.eval()
    torch.onnx.export(model, (torch.zeros(*shape),), str(path), input_names=["images"], output_names=["output0"],
                      opset_version=17, dynamo=False)
    if names:
        proto = onnx.load(str(path))
        entry = proto.metadata_props.add()
        entry.key, entry.value = "names", str(names)
        onnx.save(proto, str(path))
    print(f"wrote {path} ({path.stat().st_size} bytes)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True, help="state dict saved by train_detector.py (.pt)")
    parser.add_argument("--size", default="640x384", help="the default model's input, width x height")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    detector = TinyDetector(input_wh=(width, height))
    detector.load_state_dict(torch.load(args.weights))
    detector.export = True
    # The same input as the default model, so that the edge finds exactly the same trucks with either.
    save(CocoLayout(detector), (1, 3, height, width), OUT / "coco-layout.onnx", dict(enumerate(COCO)))
    save(Transposed(), (1, 3, 288, 512), OUT / "transposed-output.onnx")
    gray = nn.Sequential(nn.Conv2d(1, 6, 32, 32), nn.Flatten(2))
    save(gray, (1, 1, 288, 512), OUT / "gray-input.onnx")
    return 0


if __name__ == "__main__":
    sys.exit(main())

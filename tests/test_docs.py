"""The docs keep up with the code: every topic, event type and CLI command is documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lanewatch import contract

ROOT = Path(__file__).parent.parent
EVENTS_DOC = (ROOT / "docs" / "events.md").read_text()


@pytest.mark.parametrize("topic", [
    contract.event_topic("{site}", "{lane}"), contract.status_topic("{site}", "{lane}", "{edge_id}"),
    contract.summary_topic("{site}", "{lane}"), contract.availability_topic("{site}", "{edge_id}"),
    contract.receipt_topic("{site}", "{edge_id}"),
])
def test_topic_documented(topic):
    assert f"`{topic}`" in EVENTS_DOC


@pytest.mark.parametrize("event_type", contract.EVENT_TYPES)
def test_event_type_has_example(event_type):
    assert f'"type": "{event_type}"' in EVENTS_DOC


def test_examples_in_doc_are_valid_messages():
    for block in re.findall(r"```json\n(.*?)```", EVENTS_DOC, re.S):
        data = json.loads(block.replace("…", ""))
        if "type" in data:
            contract.decode_event(contract.event_topic(data["site"], data["lane"]), json.dumps(data).encode(),
                                  now=contract.datetime.fromisoformat("2026-12-01T00:00:00+00:00"))
        elif "contiguous_seq" in data:
            contract.decode_receipt(contract.receipt_topic(data["site"], data["edge"]), json.dumps(data).encode())
        elif "direction" in data:
            contract.decode_summary(contract.summary_topic(data["site"], data["lane"]), json.dumps(data).encode())
        else:
            topic = contract.status_topic(data["site"], data["lane"], data["edge"])
            contract.decode_status(topic, json.dumps(data).encode())


def test_schema_file_is_current():
    assert json.loads((ROOT / "docs" / "events.schema.json").read_text()) == contract.json_schemas()


@pytest.mark.parametrize("name, model", [("edge.example.yaml", "edge.config:EdgeConfig"),
                                         ("central.example.yaml", "central.config:CentralConfig")])
def test_example_configs_are_valid(name, model):
    import importlib

    from lanewatch.config import load_config

    module, cls = model.split(":")
    load_config(ROOT / "configs" / name, getattr(importlib.import_module(module), cls))


def test_readme_quick_start_has_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^make \w+", quick, re.M) == ["make demo", "make test"]


@pytest.mark.parametrize("tool", ["edge", "central"])
def test_every_cli_command_is_in_readme(tool):
    import importlib

    readme = (ROOT / "README.md").read_text()
    parser = importlib.import_module(f"{tool}.cli").build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for command in commands:
        assert f"lanewatch-{tool} {command}" in readme, f"lanewatch-{tool} {command} is not in the README"


def test_delivery_doc_covers_every_outbox_setting_and_status_field():
    from edge.config import OutboxConfig

    doc = (ROOT / "docs" / "delivery.md").read_text()
    for name in [*OutboxConfig.model_fields, *contract.OutboxHealth.model_fields]:
        assert f"`{name}`" in doc, f"{name} is not in docs/delivery.md"

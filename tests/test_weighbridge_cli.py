"""`lanewatch-edge weighbridge`: what an installer sees on the terminal."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest

from edge.weighbridge.cli import main
from sim.weighbridge import PtyIndicator, encode_timeline, truck_timeline


def test_prints_readings_and_one_stable_event_per_truck(tmp_path, capsys):
    rng = random.Random(11)
    rows, truth = truck_timeline([27_450.0], rng)
    speed = 8.0
    settings = tmp_path / "weighbridge.yaml"
    settings.write_text(
        "weighbridge:\n"
        "  protocol: yaohua-tf0\n"
        "  connection: {baud: 4800}\n"
        f"  stable: {{window_s: {3.0 / speed}, max_gap_s: 0.5}}\n"
    )
    with PtyIndicator() as indicator:
        # The CLI opens the port (and pyserial flushes it) within a second: start playing after that.
        player = threading.Timer(1.0, lambda: indicator.play(encode_timeline(rows, "yaohua-tf0", rng), speed=speed))
        player.start()
        code = main(["--protocol", "yaohua-tf0", "--port", indicator.path, "--config", str(settings),
                     "--duration", str(1.0 + rows[-1].t_s / speed + 1.0)])
        player.join()
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    readings = [x for x in lines if "stable" in x]
    events = [x for x in lines if "event" in x]
    assert code == 0
    assert [x["weight_kg"] for x in readings] == [row.weight_kg for row in rows]
    assert all(set(x) == {"ts", "weight_kg", "stable"} and x["ts"].endswith("Z") for x in readings)
    assert any(x["stable"] for x in readings) and not all(x["stable"] for x in readings)
    assert len(events) == 1 and events[0]["event"] == "stable"
    assert abs(events[0]["weight_kg"] - truth[0][1]) <= 10.0
    assert "weighbridge: ok" in err and "readings" in err


def test_no_indicator_exits_1_and_says_so(tmp_path, capsys):
    start = time.monotonic()
    code = main(["--protocol", "toledo", "--port", str(tmp_path / "ttyUSB0"), "--duration", "0.5"])
    assert code == 1 and time.monotonic() - start < 5
    assert "connecting" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--protocol", "toledo", "--port", "/dev/ttyS0", "--baud", "50"], "baud"),
        (["--protocol", "modbus-tcp", "--port", "/dev/ttyS0"], "host"),
        (["--protocol", "sma", "--port", "10.0.0.5:70000"], "port"),
    ],
)
def test_bad_settings_exit_2_naming_the_setting(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_unknown_protocol_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--protocol", "xk3190", "--port", "/dev/ttyS0"])
    assert exc.value.code == 2
    assert "yaohua-tf0" in capsys.readouterr().err  # the valid names are listed


def test_config_file_adds_line_settings_but_port_comes_from_the_command_line(tmp_path):
    from edge.weighbridge.cli import build_parser, config_from_args

    settings = tmp_path / "wb.yaml"
    settings.write_text(
        "protocol: toledo\nchecksum: false\nconnection: {device: /dev/ttyS9, baud: 2400, bytesize: 7}\n"
    )
    args = build_parser().parse_args(["--protocol", "toledo", "--port", "/dev/ttyUSB1", "--config", str(settings)])
    config = config_from_args(args)
    assert (config.connection.device, config.connection.baud, config.connection.bytesize) == ("/dev/ttyUSB1", 2400, 7)
    assert config.checksum is False
    args = build_parser().parse_args(["--protocol", "toledo", "--port", "10.1.2.3:4001", "--config", str(settings)])
    assert config_from_args(args).connection.model_dump() == {"kind": "tcp", "host": "10.1.2.3", "port": 4001}

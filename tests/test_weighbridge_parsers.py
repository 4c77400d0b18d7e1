"""Frame parsers: documented example frames, and properties over random noise (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.weighbridge import sma, toledo, yaohua_tf0, yaohua_tf1

# ------------------------------------------------------------------ documented frames


def test_tf0_example_from_the_design_table():
    frame = bytes.fromhex("02 2B 30 30 32 30 30 30 32 31 42 03")  # +20.00
    assert yaohua_tf0.encode(20.0, decimals=2) == frame
    parser = yaohua_tf0.YaohuaTf0Parser()
    [reading] = parser.feed(frame)
    assert reading.weight_kg == 20.0 and reading.motion is None
    assert parser.stats.frames == 1 and parser.stats.frame_errors == 0


def test_tf0_negative_tonnes_and_bad_checksum():
    parser = yaohua_tf0.YaohuaTf0Parser(unit="t")
    good = yaohua_tf0.encode(-12.345, decimals=3)
    assert good[1:2] == b"-"
    bad = good[:9] + (b"00" if good[9:11] != b"00" else b"11") + good[11:]
    readings = parser.feed(bad + good)
    assert [r.weight_kg for r in readings] == [-12345.0]
    assert parser.stats.checksum_errors == 1 and parser.stats.frames == 1


def test_tf1_examples_from_the_xk3190_manual():
    parser = yaohua_tf1.YaohuaTf1Parser()
    # XK3190-A26 manual: 3.000 is sent as "=000.3000", -1.00 as "=00.1000-", repeated.
    readings = parser.feed(b"=000.3000=000.3000=00.1000-=00.1000-")
    assert [r.weight_kg for r in readings] == [3.0, 3.0, -1.0, -1.0]
    assert yaohua_tf1.encode(3.0, 3) == b"=000.3000"
    assert yaohua_tf1.encode(-1.0, 2) == b"=00.1000-"
    assert yaohua_tf1.encode(25340) == b"=04352000"


def test_tf1_refuses_two_decimal_points():
    parser = yaohua_tf1.YaohuaTf1Parser()
    assert [r.weight_kg for r in parser.feed(b"=0.0.3000=000.3000")] == [3.0]
    assert parser.stats.framing_errors == 1


def test_toledo_status_bits_checksum_and_parity_bit():
    # Built by hand: SWA 0x2B = decimal code 3 (one decimal) | x1 increment | bit 5;
    # SWB 0x39 = net | motion | kg | bit 5; weight 012345 → 1234.5, tare 000100 → 10.0.
    body = b"\x02\x2b\x39\x20" + b"012345" + b"000100" + b"\r"
    check = (-sum(body)) & 0x7F
    frame = body + bytes((check,))
    assert toledo.encode(1234.5, decimals=1, motion=True, tare_kg=10.0) == frame
    parser = toledo.ToledoParser()
    with_parity = bytes(b | 0x80 if bin(b).count("1") % 2 else b for b in frame)  # even parity in bit 7
    [a, b] = parser.feed(frame + with_parity)
    assert a == b
    assert (a.weight_kg, a.motion, a.net, a.tare_kg) == (1234.5, True, True, 10.0)
    parser.feed(frame[:-1] + bytes(((check + 1) & 0x7F,)))
    assert parser.stats.checksum_errors == 1


def test_toledo_pounds_overload_and_no_checksum_variant():
    frame = bytearray(toledo.encode(500, out_of_range=True, with_checksum=False))
    frame[2] &= ~0x10  # lb
    parser = toledo.ToledoParser(checksum=False)
    [reading] = parser.feed(bytes(frame))
    assert reading.weight_kg == pytest.approx(500 * 0.45359237)
    assert reading.overload and not reading.underload


def test_toledo_dummy_zero_codes():
    body = b"\x02\x20\x30\x20" + b"001234" + b"000000" + b"\r"  # code 0: two dummy zeros
    [reading] = toledo.ToledoParser().feed(body + bytes(((-sum(body)) & 0x7F,)))
    assert reading.weight_kg == 123400.0


def test_sma_replies_from_the_scp_examples():
    def reply(status: bytes, motion: bytes, weight: bytes, unit: bytes) -> bytes:
        return b"\n" + status + b"1G" + motion + b" " + weight + unit + b"\r"

    parser = sma.SmaParser()
    replies = (
        reply(b" ", b" ", b"     5.025", b"lb ")  # the standard's <LF>W<CR> example
        + reply(b"Z", b" ", b"     0.000", b"kg ")  # centre of zero
        + reply(b" ", b"M", b"     7.650", b"kg ")  # in motion
        + reply(b"E", b" ", b"----------", b"kg ")  # zero error: dashes, no weight
        + b"\n?\r"  # unrecognised command
        + reply(b"O", b" ", b"    130000", b"kg ")  # over capacity
        + reply(b" ", b" ", b"   25000", b"kg ")  # an 8-character weight field: malformed
        + reply(b" ", b" ", b"     25000", b"t  ")
    )
    readings = parser.feed(replies)
    assert [round(r.weight_kg, 6) for r in readings] == [round(5.025 * 0.45359237, 6), 0.0, 7.65, 130000, 25e6]
    assert [r.motion for r in readings] == [False, False, True, False, False]
    assert [r.overload for r in readings] == [False, False, False, True, False]
    assert parser.stats.frames == 6  # five weights and the error reply
    assert parser.stats.framing_errors == 2  # "<LF>?<CR>" and the malformed reply
    assert sma.encode(7.65, decimals=3, motion=True) == reply(b" ", b"M", b"     7.650", b"kg ")


# ------------------------------------------------------------------ properties over noise

CASES = {
    "yaohua-tf0": (yaohua_tf0.YaohuaTf0Parser, lambda w, m: yaohua_tf0.encode(w, 0)),
    "yaohua-tf1": (yaohua_tf1.YaohuaTf1Parser, lambda w, m: yaohua_tf1.encode(w, 0)),
    "toledo": (toledo.ToledoParser, lambda w, m: toledo.encode(w, motion=m)),
    "sma": (sma.SmaParser, lambda w, m: sma.encode(w, motion=m)),
}
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("protocol", CASES)
@FAST
@given(data=st.binary(max_size=600), cuts=st.lists(st.integers(0, 600), max_size=8))
def test_random_bytes_never_raise(protocol, data, cuts):
    parser = CASES[protocol][0]()
    bounds = [0, *sorted(c for c in cuts if c <= len(data)), len(data)]
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        for reading in parser.feed(data[lo:hi]):
            assert isinstance(reading.weight_kg, float)
    assert len(parser._buf) < parser.frame_len  # never hoards bytes
    assert parser.stats.garbage_bytes <= len(data)


frames_and_noise = st.lists(
    st.tuples(
        st.binary(max_size=40),  # noise before the frame
        st.integers(-99_999, 999_999),  # displayed weight
        st.booleans(),  # motion
    ),
    min_size=1,
    max_size=25,
)


@pytest.mark.parametrize("protocol", CASES)
@FAST
@given(items=frames_and_noise, trailing=st.binary(max_size=40), chunk=st.integers(1, 64))
def test_frames_in_noise_are_all_recovered(protocol, items, trailing, chunk):
    make, encode = CASES[protocol]
    stream = b"".join(noise + encode(float(w), m) for noise, w, m in items) + trailing
    parser = make()
    got = []
    for i in range(0, len(stream), chunk):
        got.extend(parser.feed(stream[i : i + chunk]))
    expected = [float(w) for _, w, _ in items]
    # Every embedded frame comes out, in order; noise may (rarely) also form a frame of its own.
    it = iter(r.weight_kg for r in got)
    assert all(any(w == g for g in it) for w in expected), (expected, [r.weight_kg for r in got])
    if protocol in ("toledo", "sma"):
        motions = {(r.weight_kg, r.motion) for r in got}
        assert all((float(w), m) in motions for _, w, m in items)

"""The message protocol is defined once (widget/protocol.py) and typed the same in js/types.d.ts;
requests are validated against it on receipt."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from vectorvision_widget.widget import protocol

TYPES = Path(__file__).resolve().parents[1] / "js" / "types.d.ts"


def _ts_interfaces(text: str) -> dict[str, dict[str, tuple[str, bool]]]:
    """interface name -> {field: (TypeScript type, required)} parsed from a .d.ts text."""
    out: dict[str, dict[str, tuple[str, bool]]] = {}
    for name, body in re.findall(r"export interface (\w+) \{\n(.*?)\n\}", text, flags=re.S):
        fields = re.findall(r"^  (\w+)(\??): (.+);$", body, flags=re.M)
        out[name] = {f: (t, not q) for f, q, t in fields}
    return out


def test_js_types_hold_the_generated_protocol_block() -> None:
    text = TYPES.read_text(encoding="utf-8")
    assert protocol.replace_block(text) == text, (
        "js/types.d.ts is out of date with widget/protocol.py: run "
        '`python -c "from vectorvision_widget.widget import protocol; protocol.write_types()"`'
    )


def test_every_message_type_and_field_agrees_between_python_and_js() -> None:
    ts = _ts_interfaces(TYPES.read_text(encoding="utf-8"))
    for direction in (protocol.REQUESTS, protocol.REPLIES):
        for kind, td in direction.items():
            fields = ts[td.__name__]
            assert fields["type"] == (f'"{kind}"', True), td.__name__
            hints = get_type_hints(td)
            assert set(fields) == set(hints), td.__name__
            for key in hints:
                assert fields[key][1] == (key in td.__required_keys__), (td.__name__, key)
    unions = dict(re.findall(r"export type (Request|Reply) = (.+);", TYPES.read_text()))
    assert unions["Request"].split(" | ") == [t.__name__ for t in protocol.REQUESTS.values()]
    assert unions["Reply"].split(" | ") == [t.__name__ for t in protocol.REPLIES.values()]
    assert set(ts["InfoMeta"]) == set(get_type_hints(protocol.InfoMeta))


def test_the_js_sends_only_request_types_python_knows() -> None:
    js = "\n".join(p.read_text(encoding="utf-8") for p in TYPES.parent.glob("*.js"))
    sent = set(re.findall(r'send\(\{ type: "(\w+)"', js))
    assert sent, "no request found in js/*.js"
    assert sent <= set(protocol.REQUESTS), sent - set(protocol.REQUESTS)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"type": "hello", "extra": 1}, {"type": "hello"}),
        (
            {"type": "thumbs", "rows": [1, 2], "size": 64.0, "req": 3},
            {"type": "thumbs", "rows": [1, 2], "size": 64, "req": 3},
        ),
        ({"type": "info", "row": 5}, {"type": "info", "row": 5}),
        ({"type": "rescan"}, {"type": "rescan"}),
        ({"type": "rescan", "force": True}, {"type": "rescan", "force": True}),
    ],
)
def test_parse_request_accepts_each_request(content: Any, expected: Any) -> None:
    assert protocol.parse_request(content) == expected


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ({"type": "thumbs", "rows": [0], "size": 64}, "'req' must be an integer"),
        ({"type": "thumbs", "rows": [True], "size": 64, "req": 0}, "holds a bool"),
        ({"type": "thumbs", "rows": [0], "size": float("nan"), "req": 0}, "'size' must be an"),
        ({"type": "info", "row": 2**60}, "'row' must be in"),
        ({"type": "rescan", "force": 1}, "'force' must be true or false"),
        ({"type": 7}, "unknown request type"),
        (None, "unknown request type"),
    ],
)
def test_parse_request_names_the_bad_field(content: Any, error: str) -> None:
    with pytest.raises(protocol.BadRequestError, match=re.escape(error)):
        protocol.parse_request(content)


def test_js_row_cap_is_the_protocols() -> None:
    js = (TYPES.parent / "requests.js").read_text(encoding="utf-8")
    cap = re.search(r"const MAX_ROWS = (\d+);", js)
    assert cap is not None and int(cap.group(1)) == protocol.MAX_ROWS_PER_REQUEST

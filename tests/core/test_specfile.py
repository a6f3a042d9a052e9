"""Job spec files: parsing with line numbers, strict fields, --set, rendering (pure, no daemons)."""

from __future__ import annotations

import pytest

from codsh.core.specfile import parse, parse_setting, render, to_params
from codsh.errors import InputError

SPEC = """\
command: grep rain   # a comment
input: bafy
timeout: 60
memory: 1g
select: {zone: eu}
memo: false
ok_exit: [1, 0]
name: nightly
"""


def test_a_file_becomes_the_submit_parameters() -> None:
    params = to_params(parse(SPEC, "job.yaml"), "job.yaml")
    assert params == {
        "command": "grep rain",
        "cid": "bafy",
        "timeout": 60.0,
        "memory": "1g",
        "select": ("zone=eu",),
        "no_memo": True,
        "ok_exit": "0,1",
        "name": "nightly",
    }


def test_json_is_yaml_too() -> None:
    params = to_params(parse('{"command": "cat", "concat": true}', "job.json"), "job.json")
    assert params == {"command": "cat", "concat": True}


def test_rendering_gives_back_the_same_parameters() -> None:
    params = to_params(parse(SPEC, "job.yaml"), "job.yaml")
    again = to_params(parse(render(params), "again.yaml"), "again.yaml")
    assert again == params
    assert render(params).splitlines()[:2] == ["command: grep rain", "input: bafy"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("command: cat\ntimout: 3\n", "job.yaml, line 2: unknown field 'timout'"),
        ("command: cat\ntimeout: soon\n", "job.yaml, line 2: timeout must be a number, not 'soon'"),
        ("command: cat\nconcat: 1\n", "line 2: concat must be a true/false"),
        ("command: cat\npids: true\n", "line 2: pids must be a number"),
        ("command: cat\nselect: [a]\n", "line 2: select must be a mapping"),
        ("command: cat\nok_exit: [0, x]\n", "line 2: ok_exit: ok_exit is a list of exit statuses"),
        ("command: cat\nok_exit: [300]\n", "'300' is not an exit status"),
        ("command: cat\nreplicas: 30\n", "line 2: replicas: from 1 to 15"),
        ("input: bafy\n", "give one of command, function or program"),
        ("command: cat\nprogram: bafy\n", "give one of command, function or program"),
        ("- command: cat\n", "a spec file is a mapping of fields"),
        ("command: [cat\n", "job.yaml, line 2: not valid YAML or JSON"),
    ],
)
def test_errors_name_the_field_and_the_line(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        to_params(parse(text, "job.yaml"), "job.yaml")
    assert message in str(caught.value)


def test_set_reads_values_as_yaml() -> None:
    assert parse_setting("timeout=10") == ("timeout", 10)
    assert parse_setting("memo=false") == ("memo", False)
    assert parse_setting("command=grep a b") == ("command", "grep a b")
    assert parse_setting("select.zone=eu") == ("select", {"zone": "eu"})
    with pytest.raises(InputError, match="expected KEY=VALUE"):
        parse_setting("timeout")

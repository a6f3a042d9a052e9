"""codsh.spec: command and input validation, canonical JSON of the job spec."""

from __future__ import annotations

import json

import pytest

from codsh.core.spec import (
    CONCAT,
    DEFAULT_FUEL,
    DEFAULT_IMAGE,
    PER_FILE,
    SHELL,
    JobSpec,
    Limits,
    canonical_json,
    check_command,
    check_input,
    spec_from_request,
)
from codsh.errors import EXIT_USAGE, InputError

V1 = "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
RAW = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
V0 = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"


# -- check_command -----------------------------------------------------------------------------


def test_check_command_accepts_the_design_example() -> None:
    assert check_command("sed -n '/38.7[2-4]....,-9.1[3-5]..../p'") == [
        "sed",
        "-n",
        "/38.7[2-4]....,-9.1[3-5]..../p",
    ]


def test_check_command_accepts_pipes() -> None:
    assert check_command("grep rain | sort | uniq -c") == [
        "grep",
        "rain",
        "|",
        "sort",
        "|",
        "uniq",
        "-c",
    ]


def test_check_command_accepts_quote_of_the_other_kind() -> None:
    assert check_command("""grep "it's" """) == ["grep", "it's"]
    assert check_command("""awk '{print "x" $1}'""") == ["awk", '{print "x" $1}']


def test_check_command_accepts_escaped_quote() -> None:
    assert check_command(r"grep it\'s") == ["grep", "it's"]


@pytest.mark.parametrize("command", ["grep 'rain", 'grep "rain', "sed -n 's/a/b/", "echo it's"])
def test_check_command_rejects_unbalanced_quotes(command: str) -> None:
    with pytest.raises(InputError) as info:
        check_command(command)
    error = info.value
    assert error.exit_code == EXIT_USAGE == 2
    assert "cannot parse the command" in error.message
    assert repr(command) in error.message
    assert "No closing quotation" in error.message
    assert "balance the quotes" in error.hint
    assert isinstance(error.__cause__, ValueError)


@pytest.mark.parametrize("command", ["", "   ", "\t\n"])
def test_check_command_rejects_blank(command: str) -> None:
    with pytest.raises(InputError) as info:
        check_command(command)
    assert info.value.exit_code == 2
    assert info.value.message == "the command is empty"
    assert "-e" in info.value.hint


def test_input_error_str_includes_the_hint() -> None:
    with pytest.raises(InputError) as info:
        check_command("")
    assert str(info.value) == 'the command is empty\n  hint: give one with -e, e.g. -e "grep rain"'


# -- check_input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (V1, V1),
        (RAW, RAW),
        (V0, V0),
        (f"/ipfs/{V1}", V1),
        (f"/ipfs/{V0}", V0),
        (f"ipfs://{V1}", V1),
        (f"{V1}/sub/path.csv", f"{V1}/sub/path.csv"),
        (f"/ipfs/{V0}/a/b", f"{V0}/a/b"),
        (f"ipfs://{V1}/dir/", f"{V1}/dir"),
        (f"{V1}/", V1),
        (f"  {V1}\n", V1),
    ],
)
def test_check_input_accepts(given: str, expected: str) -> None:
    assert check_input(given) == expected


@pytest.mark.parametrize("given", ["garbage", "bafy", "Qm123", f"{V1[:-2]}/sub", "hello/world"])
def test_check_input_rejects_invalid_cid(given: str) -> None:
    with pytest.raises(InputError) as info:
        check_input(given)
    error = info.value
    assert error.exit_code == 2
    root = given.partition("/")[0]
    assert error.message.startswith(f"{root!r} is not a valid CID (")
    assert "bafy... or Qm..." in error.hint
    assert isinstance(error.__cause__, ValueError)


@pytest.mark.parametrize("given", ["", "   ", "/ipfs/", "ipfs://", "/sub/path"])
def test_check_input_rejects_missing_cid(given: str) -> None:
    with pytest.raises(InputError) as info:
        check_input(given)
    assert info.value.exit_code == 2
    assert info.value.message == "no input CID given"


# -- canonical JSON ----------------------------------------------------------------------------


def test_canonical_json_sorts_keys_without_spaces() -> None:
    assert canonical_json({"b": 1, "a": [1, 2, {"d": None, "c": True}]}) == (
        '{"a":[1,2,{"c":true,"d":null}],"b":1}'
    )


def test_canonical_json_is_independent_of_insertion_order() -> None:
    assert canonical_json({"x": 1, "y": {"q": 2, "p": 3}}) == canonical_json(
        {"y": {"p": 3, "q": 2}, "x": 1}
    )


def test_canonical_json_keeps_unicode_unescaped() -> None:
    assert canonical_json({"cmd": "grep caf\u00e9"}) == '{"cmd":"grep caf\u00e9"}'


def test_job_spec_defaults() -> None:
    spec = JobSpec("grep rain", V1)
    assert (spec.image, spec.image_digest, spec.mode) == (DEFAULT_IMAGE, "", PER_FILE)
    assert spec.limits == Limits()


def test_job_spec_canonical_json_exact() -> None:
    spec = JobSpec("grep rain", V1, image_digest="sha256:abc", mode=CONCAT)
    assert spec.canonical_json() == (
        '{"command":"grep rain","image":"codsh/busybox:latest","image_cid":"",'
        '"image_digest":"sha256:abc",'
        f'"input":"{V1}","kind":"shell",'
        '"limits":{"cpus":1.0,"fuel":10000000000,"memory":536870912,"output":4294967296,'
        '"pids":64,"stderr":65536,"timeout":300.0},"mode":"concat","ok_exit":[],"program":"","replicas":1,'
        '"target":{"find_timeout":30.0,"max_price":null,"memo":true,"overwrite":false,"publish":[],"select":{},'
        '"shard_size":1000,"slots":0},"verify":0.0}'
    )


def test_job_spec_canonical_json_is_stable_and_roundtrips() -> None:
    spec = JobSpec("sed -n '/x/p'", V0, limits=Limits(timeout=5, pids=8))
    text = spec.canonical_json()
    assert text == JobSpec("sed -n '/x/p'", V0, limits=Limits(timeout=5, pids=8)).canonical_json()
    assert " " not in text.replace("sed -n '/x/p'", "")
    decoded = json.loads(text)
    assert list(decoded) == sorted(decoded)
    assert list(decoded["limits"]) == sorted(decoded["limits"])
    assert decoded["limits"]["pids"] == 8
    assert canonical_json(decoded) == text


def test_job_spec_canonical_json_changes_with_the_command() -> None:
    assert JobSpec("grep a", V1).canonical_json() != JobSpec("grep b", V1).canonical_json()


def test_a_spec_from_before_kinds_reads_as_a_shell_job() -> None:
    old = json.loads(JobSpec("wc -l", V1).canonical_json())
    del old["kind"], old["program"], old["limits"]["fuel"]
    spec = JobSpec.from_json(json.dumps(old))
    assert (spec.kind, spec.program, spec.limits.fuel) == (SHELL, "", DEFAULT_FUEL)


def test_check_command_ignores_quotes_inside_comments() -> None:
    # sh -c "echo a # it's" prints "a": the quote is in a comment, not unbalanced
    assert check_command("echo a # it's") == ["echo", "a"]


def test_a_spec_from_an_api_request_is_checked_strictly() -> None:
    spec = spec_from_request(
        {"command": "grep rain", "input": f"/ipfs/{V1}", "mode": "concat", "target": {"slots": 2}}
    )
    assert (spec.input, spec.mode, spec.target.slots, spec.target.memo) == (V1, CONCAT, 2, True)
    assert spec_from_request(json.loads(spec.canonical_json())) == spec  # what the CLI builds


@pytest.mark.parametrize(
    ("request_body", "words"),
    [
        ([], "must be a JSON object"),
        (
            {"command": "cat", "input": V1, "colour": "red"},
            "unknown field(s) in the job spec: colour",
        ),
        ({"command": "cat", "input": "nope"}, "not a valid CID"),
        ({"command": "", "input": V1}, "the command is empty"),
        ({"command": "cat", "input": V1, "mode": "zip"}, "mode 'zip'"),
        ({"command": "cat", "input": V1, "kind": "perl"}, "kind 'perl'"),
        ({"command": "cat", "input": V1, "limits": {"timeout": -1}}, "timeout must be"),
        ({"command": "cat", "input": V1, "limits": {"cpu": 1}}, "unknown field(s) in limits: cpu"),
        ({"command": "cat", "input": V1, "target": {"memo": "no"}}, "memo must be a bool"),
        ({"command": "cat", "input": V1, "target": {"select": {"a": 1}}}, "select maps"),
        ({"command": 7, "input": V1}, "command must be a str"),
        ({"kind": "wasm", "input": V1, "program": "x"}, "not a valid CID"),
    ],
)
def test_a_bad_api_spec_says_what_is_wrong(request_body: object, words: str) -> None:
    with pytest.raises(InputError) as caught:
        spec_from_request(request_body)
    assert words in caught.value.message

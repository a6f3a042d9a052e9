"""The SDK against a real orchestrator (`codsh serve`) and in-process, each test in both modes:
real kubo, real Docker, nothing mocked. A job gives the CID the CLI gives; failures, errors and
cancels come back as JobFailed with what the record says; many jobs are waited on as they end."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import codsh
from codsh.core.unixfs import raw_cid
from codsh.errors import CodshError, InputError
from codsh.kubo_daemon import KuboProcess
from tests.client import functions
from tests.commands.cli import Tree, write_tree
from tests.commands.cli import codsh as run_cli

LISBON = "sed -n '/38.7[2-4]....,-9.1[3-5]..../p'"


LETTERS_FOR_DIGITS = str.maketrans("0123456789", "ghijklmnop")


def logs(tag: str) -> Tree:
    """Weather logs whose bytes no other test has (the memo is shared through the API). The tag
    gets letters for digits: a hex tag such as "...14a1..." matched `grep 14.1` about once in
    150 runs and made a file that should fail succeed."""
    tag = tag.translate(LETTERS_FOR_DIGITS)
    return {
        "2016/a.log": f"2016-01-01 00:00:00, 38.736946,-9.142685, 14.1, {tag}\n"
        f"2016-01-01 00:00:01, 40.000000,-8.000000, 11.0, {tag}\n".encode(),
        "2017/b.log": f"2017-01-01 00:00:00, 38.730000,-9.140000, 15.0, {tag}\n".encode(),
        "empty.log": b"",
    }


def add(client: codsh.Client, root: Path, tree: Tree) -> str:
    return client.add(write_tree(root, tree))


@pytest.fixture
def cli_env(kubo: KuboProcess, codsh_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CODSH_API", "CODSH_TOKEN")}
    return env | {"CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(codsh_home)}


def test_a_command_gives_the_cid_of_a_cli_run(
    client: codsh.Client, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    tree = logs(uuid.uuid4().hex)
    source = add(client, tmp_path / "logs", tree)
    job = client.submit(LISBON, source)
    output = job.result(timeout=120)
    assert job.status() == "succeeded" and job.done()
    cli = run_cli("run", "-e", LISBON, "-c", source, env=cli_env)
    assert cli.code == 0, cli.err
    assert output == cli.cid
    assert client.cat(f"{output}/2017/b.log") == tree["2017/b.log"]
    files = job.files()
    assert [f.path for f in files] == sorted(tree) and all(f.ok for f in files)
    assert client.job(job.id[:8]).result() == output  # a Job rebuilt from (a prefix of) its ID
    events = list(job.events())  # an ended job's stream: its end at once
    assert [e["event"] for e in events] == ["end"] and events[0]["output"] == output


def test_failed_files_raise_job_failed_with_the_partial_output(
    client: codsh.Client, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex
    source = add(client, tmp_path / "in", {"a.txt": f"rain {tag}\n".encode(), "b.txt": b"sun\n"})
    job = client.submit("grep rain", source, ok_exit=[0])  # grep's "no match" fails here
    with pytest.raises(codsh.JobFailed) as caught:
        job.result(timeout=120)
    failed = caught.value
    assert failed.job_id == job.id and failed.state == "partial" and failed.manifest
    assert [f.path for f in failed.failures] == ["b.txt"]
    assert (
        failed.failures[0].error == "exited with code 1" and failed.failures[0].outcome == "exited"
    )
    assert "1 of 2 files failed" in str(failed) and failed.exit_code == 1
    assert failed.output and client.cat(f"{failed.output}/a.txt") == f"rain {tag}\n".encode()
    by_path = {f.path: f for f in job.files()}
    assert by_path["a.txt"].ok and by_path["b.txt"].exit_code == 1


def test_a_job_that_errors_or_is_refused(client: codsh.Client, tmp_path: Path) -> None:
    absent = raw_cid(uuid.uuid4().bytes)  # valid, but no node has it
    job = client.submit("cat", absent, find_timeout=1)
    with pytest.raises(codsh.JobFailed) as caught:
        job.result(timeout=60)
    assert caught.value.state == "error" and "could not find" in str(caught.value)
    assert caught.value.output is None
    with pytest.raises(codsh.JobFailed):
        job.files()
    source = add(client, tmp_path / "in", {"a.txt": b"a\n"})
    refused = [
        ({"what": "cat", "cid": "not-a-cid"}, "not a valid CID"),
        ({"what": "grep 'rain", "cid": source}, "cannot parse the command"),
        ({"what": "cat", "cid": source, "replicas": 2}, "replicas 2 needs 2 nodes"),
        ({"what": "cat", "cid": source, "replicas": 0}, "replicas=0"),
        ({"what": "cat", "cid": source, "memory": "lots"}, "not a size"),
        ({"what": "cat", "cid": source, "image": "codsh/no-such-image"}, "codsh/no-such-image"),
    ]
    before = len(client.jobs(limit=500))
    for kwargs, message in refused:
        with pytest.raises(CodshError, match=message):
            client.submit(**kwargs)  # type: ignore[arg-type]
    assert len(client.jobs(limit=500)) == before  # nothing recorded


def test_a_python_function_runs_per_file_as_the_cli_runs_it(
    client: codsh.Client, tmp_path: Path, cli_env: dict[str, str], python_image: str
) -> None:
    tag = uuid.uuid4().hex.encode()
    source = add(client, tmp_path / "in", {"a.txt": b"abc " + tag, "b.txt": b"bcd " + tag})
    job = client.submit(functions.shout, source)
    output = job.result(timeout=180)
    assert client.cat(f"{output}/a.txt") == b"ABC " + tag.upper()
    spec = job.record()["spec"]
    assert spec["kind"] == "python" and spec["command"] == "python functions.py:shout"
    script = str(Path(functions.__file__))
    cli = run_cli("run", "-f", script, "--fn", "shout", "-c", source, env=cli_env)
    assert cli.code == 0, cli.err
    assert cli.cid == output  # the same bundle CID, so the same job
    failing = client.submit(functions.fails_on_b, source)
    with pytest.raises(codsh.JobFailed) as caught:
        failing.result(timeout=180)
    [failure] = caught.value.failures
    assert failure.path == "b.txt" and "ValueError: no b here" in failure.stderr


def nested() -> object:
    def inner(infile: object) -> bytes:
        return b""

    return inner


def test_functions_the_nodes_cannot_import_are_refused_at_submit(
    client: codsh.Client, tmp_path: Path
) -> None:
    from tests.client import imports_codsh

    source = add(client, tmp_path / "in", {"a.txt": b"a\n"})
    refused = [
        (lambda infile: infile, "not defined at the top level"),
        (nested(), "not defined at the top level"),
        (print, "not a Python function"),
        (imports_codsh.identity, "imports codsh, which the nodes do not have"),
        (test_functions_the_nodes_cannot_import_are_refused_at_submit, "imports pytest"),
    ]
    for function, message in refused:
        with pytest.raises(InputError, match=message):
            client.submit(function, source)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="requirements go with a Python function"):
        client.submit("cat", source, requirements=tmp_path / "requirements.txt")


def test_cancel_stops_a_running_job(client: codsh.Client, tmp_path: Path) -> None:
    source = add(client, tmp_path / "in", {"slow.txt": uuid.uuid4().bytes})
    job = client.submit("sleep 60; cat", source)
    for event in job.events():  # until it is listed: it runs
        if event.get("files") is not None:
            break
    assert job.cancel() is True
    assert job.status() == "cancelled"
    with pytest.raises(codsh.JobFailed) as caught:
        job.result(timeout=10)
    assert caught.value.state == "cancelled"
    assert job.cancel() is False  # ended already


def test_events_follow_a_running_job_to_its_end(client: codsh.Client, tmp_path: Path) -> None:
    tree: Tree = {f"{n}.txt": uuid.uuid4().bytes for n in range(3)}
    source = add(client, tmp_path / "in", tree)
    job = client.submit("sleep 1; cat", source)
    events = list(job.events())
    kinds = [e["event"] for e in events]
    assert kinds[0] == "progress" and kinds[-1] == "end", kinds
    assert {e["path"] for e in events if e["event"] == "file"} == set(tree)
    assert events[-1]["state"] == "succeeded" and events[-1]["output"] == job.result()


def test_as_completed_and_wait(client: codsh.Client, tmp_path: Path) -> None:
    source = add(client, tmp_path / "in", {"a.txt": uuid.uuid4().bytes})
    slow = client.submit("sleep 4; cat", source)
    quick = client.submit("cat", source)
    assert list(codsh.as_completed([slow, quick], timeout=120)) == [quick, slow]
    assert codsh.wait([slow, quick]) == ({slow, quick}, set())
    sleeper = client.submit("sleep 60; wc -c", source)
    done, not_done = codsh.wait([sleeper, quick], timeout=0.5)
    assert done == {quick} and not_done == {sleeper}
    done, _ = codsh.wait([sleeper, quick], return_when=codsh.FIRST_COMPLETED)
    assert done == {quick}
    with pytest.raises(TimeoutError):
        sleeper.result(timeout=0.3)
    with pytest.raises(TimeoutError, match="1 of 2 jobs still running"):
        list(codsh.as_completed([sleeper, quick], timeout=0.5))
    assert sleeper.cancel()


def test_a_job_given_as_input_feeds_the_next(client: codsh.Client, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    source = add(client, tmp_path / "in", {"a.txt": f"x {tag}\ny\n".encode(), "b.txt": b"x\n"})
    first = client.submit("grep x", source)
    counted = client.submit("wc -l", first, concat=True)
    assert client.cat(counted.result(timeout=120)) == b"1\n1\n"
    failing = client.submit("grep nothing", source, ok_exit=[0])
    with pytest.raises(codsh.JobFailed):
        client.submit("cat", failing)


def test_python_exiting_cancels_its_in_process_jobs(
    local: codsh.Client, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    source = add(local, tmp_path / "in", {"a.txt": uuid.uuid4().bytes})
    script = "import codsh, sys; print(codsh.connect().submit('sleep 60; cat', sys.argv[1]).id)"
    done = subprocess.run(
        [sys.executable, "-c", script, source], env=cli_env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    job = local.job(done.stdout.decode().strip())
    assert job.status() == "cancelled"
    with pytest.raises(codsh.JobFailed, match="cancelled"):
        job.result()


def test_a_pipe_gives_the_chained_jobs_output(client: codsh.Client, tmp_path: Path) -> None:
    tree = logs(uuid.uuid4().hex) | {"2018/c.log": logs("c")["2017/b.log"]}
    source = add(client, tmp_path / "logs", tree)
    stages = [LISBON, "cut -d, -f4", "--concat", "sort -n | uniq -c"]
    piped = client.pipe(stages, source, name="lisbon-pipe")
    unfused = client.pipe(stages, source, fuse=False)
    matches = client.submit(LISBON, source)
    chained = client.submit("sort -n | uniq -c", client.submit("cut -d, -f4", matches, concat=True))
    output = piped.result(timeout=120)
    assert output == unfused.result(timeout=120) == chained.result(timeout=120)
    assert client.cat(output).split() == [b"1", b"14.1", b"2", b"15.0"]
    assert len(piped.record()["stages"]) == 2 and len(unfused.record()["stages"]) == 3
    assert client.job("lisbon-pipe") == piped
    with pytest.raises(InputError, match="--concat comes before any stage"):
        client.pipe(["--concat", "cat"], source)
    partial = client.pipe(["grep 14.1", "cat"], source)
    with pytest.raises(codsh.JobFailed) as caught:
        partial.result(timeout=120)
    assert caught.value.state == "partial" and caught.value.output
    assert {f.path for f in caught.value.failures} == {"2017/b.log", "2018/c.log", "empty.log"}


def test_programs_by_cid_a_wasm_module_and_a_bundle(
    client: codsh.Client, tmp_path: Path, python_image: str
) -> None:
    import wasmtime

    from tests.executor.test_wasm import grep_rain

    wat = Path(__file__).parents[1] / "executor" / "wasm" / "grep_rain.wat"
    (tmp_path / "grep_rain.wasm").write_bytes(wasmtime.wat2wasm(wat.read_text()))
    module = client.add(tmp_path / "grep_rain.wasm")
    tree: Tree = {"a.txt": f"rain {uuid.uuid4()}\nsun\n".encode(), "b.txt": b"more rain\n"}
    source = add(client, tmp_path / "in", tree)
    for what in (f"wasm:{module}", module):
        job = client.submit(what, source)
        assert client.cat(f"{job.result(timeout=120)}/a.txt") == grep_rain(tree["a.txt"])
        assert job.record()["spec"]["kind"] == "wasm"
    packed = client.submit(functions.shout, source)
    bundle = packed.record()["spec"]["program"]
    for what in (f"bundle:{bundle}", bundle):
        assert client.submit(what, source).result(timeout=120) == packed.result(timeout=120)
    for what, message in [
        (f"wasm:{bundle}", "is not a .wasm module"),
        (f"bundle:{module}", "is not a function bundle"),
        (source, "neither a function bundle nor a .wasm module"),
    ]:
        with pytest.raises(InputError, match=message):
            client.submit(what, source)


def test_a_named_jobs_output_is_an_input_by_its_name(client: codsh.Client, tmp_path: Path) -> None:
    """Issue 14: `name=` publishes the output under a stable name, and the name is an input."""
    name = f"nightly-{uuid.uuid4().hex[:8]}"
    source = add(client, tmp_path / "in", {"a.txt": b"rain\nsun\n"})
    first = client.submit("grep rain", source, name=name)
    output = first.result(timeout=120)
    by_name = client.submit("wc -l", name, concat=True)
    assert client.cat(by_name.result(timeout=120)) == b"1\n"
    assert by_name.record()["input"] == output  # the job records the CID it ran on

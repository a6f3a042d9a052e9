"""The orchestrator's API against a real `codsh serve` (hypercorn, trio), real kubo and Docker:
tokens, jobs submitted over HTTP with the CID a CLI run gives, the event stream, cancel, and bad
requests refused with a clear 4xx and nothing recorded."""

from __future__ import annotations

import json
import time
from pathlib import Path

import docker

from codsh.core.folders import MIN_FILES
from codsh.executor.container import job_containers
from tests.api.conftest import Orchestrator, codsh
from tests.commands.cli import add, cat
from tests.commands.cli import codsh as run_cli

LISBON = "sed -n '/38.7[2-4]....,-9.1[3-5]..../p'"
TREE = {
    "2016/a.log": b"2016-01-01 00:00:00, 38.736946,-9.142685, 14.1, 1013, 0.2\n"
    b"2016-01-01 00:00:01, 40.000000,-8.000000, 11.0, 1010, 0.0\n",
    "2017/b.log": b"2017-01-01 00:00:00, 38.730000,-9.140000, 15.0, 1012, 1.4\n",
    "empty.log": b"",
}


def test_requests_without_a_valid_token_get_401_and_nothing_else(
    orchestrator: Orchestrator,
) -> None:
    for headers in ({}, {"Authorization": "Token x"}, {"Authorization": "Bearer codsh_nope"}):
        status, body = orchestrator.call("GET", "/v1/jobs", user=None, headers=headers)
        assert status == 401
        assert body["error"].startswith("no valid token") and body["hint"]
    status, _ = orchestrator.call("GET", "/openapi.json", user=None)
    assert status == 401


def test_the_openapi_document_lists_the_routes(orchestrator: Orchestrator) -> None:
    status, document = orchestrator.call("GET", "/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.1")
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/events"} <= set(document["paths"])


def test_a_job_over_http_gives_the_cid_of_a_cli_run_and_streams_its_files(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    source = add(orchestrator.env, tmp_path / "logs", TREE)
    status, job = orchestrator.call("POST", "/v1/jobs", body={"command": LISBON, "input": source})
    assert status == 201, job
    assert job["owner"] == "alice" and job["state"] == "running" and "pid" not in job
    events = orchestrator.events(job["id"])
    end = orchestrator.wait(job["id"])
    assert end["state"] == "succeeded" and end["files"] == 3
    local = run_cli("run", "-e", LISBON, "-c", source, env=orchestrator.env)
    assert local.code == 0, local.err
    assert end["output"] == local.cid
    assert cat(orchestrator.env, f"{end['output']}/2017/b.log") == TREE["2017/b.log"]
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "end" and events[-1]["output"] == end["output"]
    files = {e["path"] for e in events if e["event"] == "file"}
    if "listed" in kinds:  # subscribed before the listing: every file came by
        assert files == set(TREE)
    # a finished job's stream says its end at once
    again = orchestrator.events(job["id"])
    assert [e["event"] for e in again] == ["end"] and again[0]["state"] == "succeeded"


def test_users_see_only_their_own_jobs_and_an_admin_sees_all(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    source = add(orchestrator.env, tmp_path / "in", {"a.txt": b"a\n"})
    status, job = orchestrator.call("POST", "/v1/jobs", body={"command": "cat", "input": source})
    assert status == 201
    orchestrator.wait(job["id"])
    _, bobs = orchestrator.call("GET", "/v1/jobs", user="bob")
    assert job["id"] not in {j["id"] for j in bobs}
    status, body = orchestrator.call("GET", f"/v1/jobs/{job['id']}", user="bob")
    assert status == 404 and "no job" in body["error"]
    assert orchestrator.call("POST", f"/v1/jobs/{job['id']}/cancel", user="bob")[0] == 404
    _, everyone = orchestrator.call("GET", "/v1/jobs", user="admin")
    assert job["id"] in {j["id"] for j in everyone}


def test_a_revoked_token_gets_401_at_once(orchestrator: Orchestrator) -> None:
    token = codsh(orchestrator.env, "serve", "token", "add", "carol")
    orchestrator.tokens["carol"] = token
    assert orchestrator.call("GET", "/v1/jobs", user="carol")[0] == 200
    codsh(orchestrator.env, "serve", "token", "rm", "carol")
    assert orchestrator.call("GET", "/v1/jobs", user="carol")[0] == 401


def test_bad_requests_are_4xx_with_a_clear_message_and_record_nothing(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    source = add(orchestrator.env, tmp_path / "in", {"a.txt": b"a\n"})
    _, before = orchestrator.call("GET", "/v1/jobs", user="bob")
    cases = [
        (dict(raw=b"{not json"), 400, "not JSON"),
        (dict(body=["a", "list"]), 400, "must be a JSON object"),
        (dict(body={"command": "cat", "input": source, "colour": "red"}), 400, "colour"),
        (dict(body={"command": "cat", "input": "bafy-nope"}), 400, "not a valid CID"),
        (dict(body={"command": "echo 'open", "input": source}), 400, "cannot parse"),
        (
            dict(body={"command": "cat", "input": source, "limits": {"timeout": "x"}}),
            400,
            "timeout",
        ),
        (dict(body={"command": "cat", "input": source, "image": "no/such:image"}), 400, "image"),
        (dict(raw=b"{" + b" " * (2 * 1024 * 1024) + b"}"), 413, "larger than"),
    ]
    for request, status, words in cases:
        got, body = orchestrator.call("POST", "/v1/jobs", user="bob", **request)  # type: ignore[arg-type]
        assert got == status, (request, body)
        assert words in body["error"] and body["hint"], body
    _, after = orchestrator.call("GET", "/v1/jobs", user="bob")
    assert after == before


def test_a_cancelled_job_stops_its_containers_and_is_recorded_cancelled(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    tree = {f"f{i}.txt": f"{i}\n".encode() for i in range(6)}
    source = add(orchestrator.env, tmp_path / "in", tree)
    spec = {"command": "sleep 2; cat", "input": source, "target": {"slots": 1, "memo": False}}
    status, job = orchestrator.call("POST", "/v1/jobs", body=spec)
    assert status == 201
    time.sleep(3)
    status, body = orchestrator.call("POST", f"/v1/jobs/{job['id']}/cancel")
    assert status == 202, body
    record = orchestrator.wait(job["id"], timeout=30)
    assert record["state"] == "cancelled"
    assert job_containers(docker.from_env(), job["id"]) == []
    assert orchestrator.call("POST", f"/v1/jobs/{job['id']}/cancel")[0] == 409


def test_too_many_running_jobs_get_429(orchestrator: Orchestrator, tmp_path: Path) -> None:
    source = add(orchestrator.env, tmp_path / "in", {"a.txt": b"a\n"})
    spec = {"command": "sleep 30", "input": source, "target": {"memo": False}}
    started = [orchestrator.call("POST", "/v1/jobs", user="bob", body=spec) for _ in range(3)]
    assert [status for status, _ in started] == [201, 201, 201]
    status, body = orchestrator.call("POST", "/v1/jobs", user="bob", body=spec)
    assert status == 429 and "jobs running" in body["error"]
    for _, job in started:
        orchestrator.call("POST", f"/v1/jobs/{job['id']}/cancel", user="bob")
    for _, job in started:
        assert orchestrator.wait(job["id"], user="bob", timeout=30)["state"] == "cancelled"
    assert json.loads(json.dumps(body))  # the 429 body is JSON like every error


def test_another_users_rerun_reuses_the_first_users_results(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    """One orchestrator, one memo: bob's run of alice's job links her outputs and says so."""
    source = add(orchestrator.env, tmp_path / "in", {"x.txt": b"x\n", "y.txt": b"y\n"})
    spec = {"command": "tr x-y X-Y; echo shared-memo", "input": source}
    first = orchestrator.wait(orchestrator.call("POST", "/v1/jobs", body=spec)[1]["id"])
    _, job = orchestrator.call("POST", "/v1/jobs", user="bob", body=spec)
    second = orchestrator.wait(job["id"], user="bob")
    assert (first["reused"], second["reused"]) == (0, 2)
    assert second["output"] == first["output"] and second["owner"] == "bob"


def test_a_rerun_through_the_api_links_a_remembered_folder_without_listing_it(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    """The orchestrator lists at submit; a folder the memo keeps is left out of the listing and
    linked whole, and the job's counts and output are a full run's."""
    logs = {f"logs/{i:03}.txt": f"reading {i} {tmp_path.name}\n".encode() for i in range(MIN_FILES)}
    day1 = add(orchestrator.env, tmp_path / "v1", logs)
    day2 = add(orchestrator.env, tmp_path / "v2", {**logs, "new.txt": b"new reading\n"})
    spec = {"command": "tr a-z A-Z", "input": day1}
    first = orchestrator.wait(orchestrator.call("POST", "/v1/jobs", body=spec)[1]["id"])
    _, job = orchestrator.call("POST", "/v1/jobs", body=spec | {"input": day2})
    rerun = orchestrator.wait(job["id"])
    assert (first["state"], rerun["state"]) == ("succeeded", "succeeded")
    assert (rerun["files"], rerun["reused"], rerun["failed"]) == (MIN_FILES + 1, MIN_FILES, 0)
    fresh = spec | {"input": day2, "target": {"memo": False}}
    full = orchestrator.wait(orchestrator.call("POST", "/v1/jobs", body=fresh)[1]["id"])
    assert full["output"] == rerun["output"] and full["reused"] == 0


def test_twenty_jobs_from_four_users_at_once_all_finish_right(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    """Concurrent jobs write through one store connection: no lock errors, every record right."""
    from concurrent.futures import ThreadPoolExecutor

    for user in ("dora", "erin"):
        orchestrator.tokens.setdefault(user, codsh(orchestrator.env, "serve", "token", "add", user))
    users = ["alice", "bob", "dora", "erin"]
    sources = [
        add(orchestrator.env, tmp_path / f"in{i}", {f"{i}.txt": b"n\n" * i}) for i in range(5)
    ]

    def one(n: int) -> tuple[str, dict[str, object]]:
        user, source = users[n % 4], sources[n % 5]
        spec = {"command": f"wc -l; echo job{n % 5}", "input": source, "target": {"memo": False}}
        for _ in range(100):  # at most 3 running per user: wait for room when refused
            status, job = orchestrator.call("POST", "/v1/jobs", user=user, body=spec)
            if status != 429:
                break
            time.sleep(0.3)
        assert status == 201, job
        return user, orchestrator.wait(job["id"], user=user, timeout=180)

    with ThreadPoolExecutor(8) as pool:
        ended = list(pool.map(one, range(20)))
    assert all(record["state"] == "succeeded" for _, record in ended)
    by_input: dict[str, set[object]] = {}
    for user, record in ended:
        assert record["owner"] == user
        by_input.setdefault(str(record["input"]), set()).add(record["output"])
    assert all(len(outputs) == 1 for outputs in by_input.values())  # same input, same CID
    log = (orchestrator.home / "serve.log").read_text()
    assert "locked" not in log and "Traceback" not in log

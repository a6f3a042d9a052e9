"""The web page's HTML, rendered on the server.

Every value that comes from a user or a job (commands, paths, errors, stderr, names, CIDs) goes
through `e` (html.escape, quotes included) and every one put in a URL through `q`; the script
(assets.JS) adds text with `textContent` only. So a command or a file name such as
`<script>...` shows as text and never runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import quote

from codsh.api.tokens import User
from codsh.jobs.store import JobRecord

STATES = ("running", "succeeded", "partial", "error", "cancelled", "interrupted")
HERE = "this machine"  # what a file run by the orchestrator's own node shows as its node
COMMAND_SHOWN = 120  # characters of a command in the job list (the job page shows all of it)


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def q(value: str) -> str:
    return quote(value, safe="")


def state_class(state: str) -> str:
    return "state state-" + (state if state in STATES else "other")


@dataclass
class Progress:
    """A job's counts: a running job's from its feed, an ended one's from its record."""

    files: int | None
    done: int
    failed: int
    reused: int

    @classmethod
    def of(cls, record: JobRecord, live: Mapping[str, Any] | None) -> Progress:
        if live is not None:
            return cls(live["files"], live["done"], live["failed"], live["reused"])
        files = record.files
        return cls(files, files or 0, record.failed or 0, record.reused or 0)

    def text(self) -> str:  # the script writes the same (assets.JS, `countsText`)
        files = "?" if self.files is None else self.files
        return f"{self.done} / {files} files · {self.failed} failed · {self.reused} reused"


@dataclass
class Failure:
    path: str
    node: str
    outcome: str
    error: str
    stderr: str


@dataclass
class Results:
    """What the recorded per-file results say so far: counts per node and the first failures."""

    nodes: dict[str, list[int]] = field(default_factory=dict)  # node -> [files, failed]
    failures: list[Failure] = field(default_factory=list)
    failed: int = 0  # all of them (only the first few are in `failures`)


def layout(title: str, body: str, user: User | None = None) -> str:
    who = ""
    if user is not None:
        admin = " (admin)" if user.admin else ""
        who = f'<span class="user">{e(user.name)}{admin}</span> <a href="/logout">Log out</a>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} · codsh</title><link rel="icon" href="/static/icon.svg">
<link rel="stylesheet" href="/static/web.css"></head>
<body><header><a class="brand" href="/">codsh</a><nav>{who}</nav></header>
<main>{body}</main><script src="/static/web.js"></script></body></html>
"""


def login_form(next_path: str, message: str = "") -> str:
    error = f'<p class="error" role="alert">{e(message)}</p>' if message else ""
    return f"""<h1>Log in</h1>{error}
<form class="login" method="post" action="/login">
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<input type="hidden" name="next" value="{e(next_path)}">
<button type="submit">Log in</button></form>
<p class="hint">Your token is the one the orchestrator's operator made for you
(<code>codsh serve token add NAME</code>); it is kept in a cookie only this site can read.</p>"""


def message_page(title: str, message: str, hint: str = "") -> str:
    extra = f'<p class="hint">{e(hint)}</p>' if hint else ""
    return f'<h1>{e(title)}</h1><p class="error">{e(message)}</p>{extra}<p><a href="/">Jobs</a></p>'


def command_of(record: JobRecord) -> str:
    """The command; a Python function or WASM module (no command text) by its kind and CID."""
    if record.command:
        return record.command
    spec = json.loads(record.spec)
    return f"({spec.get('kind', '')} {spec.get('program', '')})"


def age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(0, int(seconds))}s"


def when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def job_list(rows: Sequence[tuple[JobRecord, Mapping[str, Any] | None]], now: float) -> str:
    if not rows:
        return '<h1>Jobs</h1><p class="hint">No jobs yet: <code>codsh run -e CMD -c CID</code>.</p>'
    lines = [job_row(record, Progress.of(record, live), now) for record, live in rows]
    head = "".join(
        f"<th>{name}</th>"
        for name in ("Job", "State", "Owner", "Command", "OK", "Failed", "Reused", "Output", "Age")
    )
    return f"""<h1>Jobs</h1>
<table id="jobs" class="jobs"><thead><tr>{head}</tr></thead>
<tbody>{"".join(lines)}</tbody></table>"""


def job_row(record: JobRecord, counts: Progress, now: float) -> str:
    command = command_of(record)
    shown = command if len(command) <= COMMAND_SHOWN else command[: COMMAND_SHOWN - 1] + "…"
    ok = counts.done - counts.failed
    total = "?" if counts.files is None else counts.files
    files = f"{ok}" if record.state != "running" else f"{ok} / {total}"
    cells = [
        f'<a href="/jobs/{q(record.id)}"><code>{e(record.id)}</code></a>',
        f'<span class="{state_class(record.state)}">{e(record.state)}</span>',
        e(record.owner or ""),
        f'<code class="command" title="{e(command)}">{e(shown)}</code>',
        files,
        str(counts.failed),
        str(counts.reused),
        f'<code class="cid">{e(record.output or "")}</code>',
        f'<span title="{when(record.created)}">{age(now - record.created)}</span>',
    ]
    tds = "".join(f"<td>{cell}</td>" for cell in cells)
    return f'<tr data-job="{e(record.id)}">{tds}</tr>'


def job_page(record: JobRecord, live: Mapping[str, Any] | None, results: Results) -> str:
    counts = Progress.of(record, live)
    running = record.state == "running"
    data: dict[str, object] = {"job": record.id, "events": f"/jobs/{q(record.id)}/events"}
    data |= {"live": "1" if running else "0", "files": "" if counts.files is None else counts.files}
    data |= {"done": counts.done, "failed": counts.failed, "reused": counts.reused}
    attributes = " ".join(f'data-{key}="{e(value)}"' for key, value in data.items())
    value = "" if counts.files is None else f' value="{counts.done}"'
    return f"""<section id="job" {attributes}>
<h1>Job <code>{e(record.id)}</code>
<span id="state" class="{state_class(record.state)}">{e(record.state)}</span>
<span id="live" class="hint">{"connecting…" if running else ""}</span></h1>
{details(record)}
<h2>Progress</h2>
<p><progress id="bar" max="{max(counts.files or 0, 1)}"{value}></progress>
<span id="counts">{e(counts.text())}</span></p>
{outcome(record)}
{nodes_table(results, counts)}
{placement(record)}
{lineage(record)}
{failures(results)}
</section>"""


def details(record: JobRecord) -> str:
    spec = json.loads(record.spec)
    rows = [
        ("Command", f'<pre id="command">{e(command_of(record))}</pre>'),
        ("Input", f'<code id="input">{e(record.input)}</code>'),
        ("Owner", e(record.owner or "")),
        ("Mode", e(record.mode)),
        ("Image", e(spec.get("image_digest") or spec.get("image") or "")),
        ("Runs on", e(HERE if record.runs_on == "this node" else record.runs_on)),
        ("Submitted", e(when(record.created))),
    ]
    return definitions(rows, "details")


def outcome(record: JobRecord) -> str:
    seconds = "" if record.seconds is None else f"{record.seconds:.1f} s"
    rows = [
        ("Output", f'<code id="output" class="cid">{e(record.output or "—")}</code>'),
        ("Manifest", f'<code id="manifest" class="cid">{e(record.manifest or "—")}</code>'),
        ("Time", f'<span id="seconds">{e(seconds)}</span>'),
    ]
    if record.error:
        rows.append(("Error", f'<pre id="error" class="error">{e(record.error)}</pre>'))
    return definitions(rows, "outcome")


def definitions(rows: Sequence[tuple[str, str]], css: str) -> str:
    """A <dl> of (label, HTML already escaped) pairs."""
    items = "".join(f"<dt>{e(label)}</dt><dd>{html}</dd>" for label, html in rows)
    return f'<dl class="{css}">{items}</dl>'


def nodes_table(results: Results, counts: Progress) -> str:
    total = max(counts.files or 0, 1)
    rows = []
    for node, (done, failed) in sorted(results.nodes.items()):
        cells = f'<td>{e(node or HERE)}</td><td class="done">{done}</td>'
        cells += f'<td class="failed">{failed}</td>'
        cells += f'<td><progress max="{total}" value="{done}"></progress></td>'
        rows.append(
            f'<tr data-node="{e(node)}" data-done="{done}" data-failed="{failed}">{cells}</tr>'
        )
    hidden = "" if rows else " hidden"
    return f"""<div id="nodes-section"{hidden}><h2>Where the files ran</h2>
<table id="nodes" class="nodes"><thead><tr><th>Node</th><th>Files</th><th>Failed</th><th></th></tr>
</thead><tbody>{"".join(rows)}</tbody></table></div>"""


def placement(record: JobRecord) -> str:
    """A cluster job's locality: bytes processed where they were stored, shards per node."""
    if not record.placement:
        return ""
    report = json.loads(record.placement)
    moved, total = report.get("bytes_moved", 0), report.get("bytes_total", 0)
    shards = report.get("shards_per_node", {})
    most = max([*shards.values(), 1])
    rows = "".join(
        f'<tr><td>{e(node)}</td><td>{e(count)}</td><td><meter max="{most}" value="{e(count)}">'
        "</meter></td></tr>"
        for node, count in sorted(shards.items())
    )
    return f"""<div id="placement"><h2>Locality</h2>
<p><meter id="locality" max="1" value="{e(report.get("locality", 0))}"></meter>
{e(round(100 * float(report.get("locality", 0)), 1))}% of the bytes processed where they were
stored ({e(moved)} of {e(total)} bytes moved)</p>
<table class="nodes"><thead><tr><th>Node</th><th>Shards</th><th></th></tr></thead>
<tbody>{rows}</tbody></table></div>"""


def lineage(record: JobRecord) -> str:
    """A pipe's stages, each with what it read and what it made."""
    if not record.stages:
        return ""
    keys = ("stage", "job", "command", "input", "output", "files", "failed", "reused")
    head = "".join(f"<th>{e(key.capitalize())}</th>" for key in keys)
    rows = "".join(
        "<tr>" + "".join(f"<td>{e(stage.get(key, ''))}</td>" for key in keys) + "</tr>"
        for stage in json.loads(record.stages)
    )
    return f"""<div id="lineage"><h2>Lineage</h2>
<table class="lineage"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"""


def failures(results: Results) -> str:
    items = "".join(failure_item(failure) for failure in results.failures)
    more = results.failed - len(results.failures)
    rest = f'<p class="hint">and {more} more: <code>codsh job logs ID</code></p>' if more else ""
    hidden = "" if results.failed else " hidden"
    return f"""<div id="failures"{hidden}><h2>Failures</h2>
<ol id="failure-list">{items}</ol>{rest}</div>"""


def failure_item(failure: Failure) -> str:
    stderr = f'<pre class="stderr">{e(failure.stderr)}</pre>' if failure.stderr else ""
    return (
        f'<li data-path="{e(failure.path)}"><code class="path">{e(failure.path)}</code> '
        f'<span class="node">{e(failure.node or HERE)}</span> '
        f'<span class="outcome">{e(failure.outcome)}</span> '
        f'<span class="why">{e(failure.error)}</span>{stderr}</li>'
    )

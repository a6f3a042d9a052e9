"""The page's script and style, served from the orchestrator itself (no CDN, no build step).

The script runs on a job page that is live (its job was running when the page was rendered): it
follows the job's events (`EventSource` on /jobs/ID/events, the same stream as the API's) and
moves the progress bar, the per-node counts and the failures; when the end arrives it shows the
state and CIDs, then swaps in the page as the server renders it now (exact counts, stderr).
Event data is only ever put in the page with `textContent`.
"""

JS = r""""use strict";
(() => {
  const job = document.getElementById("job");
  if (!job || job.dataset.live !== "1") return;
  const $ = (id) => document.getElementById(id);
  const STATES = ["running", "succeeded", "partial", "error", "cancelled", "interrupted"];
  const HERE = "this machine";
  const MAX_SHOWN = 100;
  const count = {
    files: job.dataset.files === "" ? null : Number(job.dataset.files),
    done: Number(job.dataset.done), failed: Number(job.dataset.failed),
    reused: Number(job.dataset.reused),
  };
  const seen = new Set(Array.from($("failure-list").children, (li) => li.dataset.path));

  const countsText = () =>
    `${count.done} / ${count.files ?? "?"} files · ${count.failed} failed · ${count.reused} reused`;

  function draw() {
    const bar = $("bar");
    if (count.files === null) {
      bar.removeAttribute("value");
    } else {
      bar.max = Math.max(count.files, 1);
      bar.value = count.done;
    }
    $("counts").textContent = countsText();
    for (const row of $("nodes").tBodies[0].rows) drawNode(row);
  }

  function drawNode(row) {
    row.querySelector(".done").textContent = row.dataset.done;
    row.querySelector(".failed").textContent = row.dataset.failed;
    const bar = row.querySelector("progress");
    bar.max = Math.max(count.files ?? 1, 1);
    bar.value = Number(row.dataset.done);
  }

  function nodeRow(node) {
    const body = $("nodes").tBodies[0];
    for (const row of body.rows) if (row.dataset.node === node) return row;
    const row = body.insertRow();
    Object.assign(row.dataset, { node: node, done: "0", failed: "0" });
    row.insertCell().textContent = node || HERE;
    for (const name of ["done", "failed"]) row.insertCell().className = name;
    row.insertCell().append(document.createElement("progress"));
    $("nodes-section").hidden = false;
    return row;
  }

  function part(tag, name, text) {
    const element = document.createElement(tag);
    element.className = name;
    element.textContent = text;
    return element;
  }

  function addFailure(file) {
    if (seen.has(file.path) || seen.size >= MAX_SHOWN) return;
    seen.add(file.path);
    const item = document.createElement("li");
    item.dataset.path = file.path;
    item.append(part("code", "path", file.path), " ", part("span", "node", file.node || HERE), " ",
      part("span", "outcome", file.outcome), " ", part("span", "why", file.error || ""));
    if (file.stderr) item.append(part("pre", "stderr", file.stderr));
    $("failure-list").append(item);
    $("failures").hidden = false;
  }

  function onFile(file) {
    const ok = file.outcome === "ok";
    count.done += 1;
    count.failed += ok ? 0 : 1;
    count.reused += file.reused ? 1 : 0;
    const row = nodeRow(file.node || "");
    row.dataset.done = String(Number(row.dataset.done) + 1);
    if (!ok) row.dataset.failed = String(Number(row.dataset.failed) + 1);
    if (!ok) addFailure(file);
    draw();
  }

  function onProgress(progress) {
    Object.assign(count, { files: progress.files ?? null, done: progress.done,
      failed: progress.failed, reused: progress.reused });
    for (const [node, [done, failed]] of Object.entries(progress.nodes || {})) {
      Object.assign(nodeRow(node).dataset, { done: String(done), failed: String(failed) });
    }
    draw();
  }

  function onEnd(end) {
    const state = $("state");
    state.textContent = end.state;
    state.className = "state state-" + (STATES.includes(end.state) ? end.state : "other");
    $("output").textContent = end.output || "—";
    $("manifest").textContent = end.manifest || "—";
    if (end.seconds !== null && end.seconds !== undefined) {
      $("seconds").textContent = `${end.seconds.toFixed(1)} s`;
    }
    if (end.files !== null && end.files !== undefined && end.state !== "cancelled") {
      Object.assign(count, { files: end.files, done: end.files });
    }
    if (end.failed !== null && end.failed !== undefined) count.failed = end.failed;
    draw();
    $("live").textContent = "";
    job.dataset.live = "0";
    refresh();
  }

  async function refresh() {  // the page as it is now: exact per-node counts, failures' stderr
    const response = await fetch(location.pathname, { credentials: "same-origin" });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("job");
    if (fresh && fresh.dataset.live === "0") job.replaceWith(document.adoptNode(fresh));
  }

  const source = new EventSource(job.dataset.events);
  const on = (kind, handle) =>
    source.addEventListener(kind, (message) => handle(JSON.parse(message.data)));
  source.onopen = () => { $("live").textContent = "live"; };
  source.onerror = () => { if (job.dataset.live === "1") $("live").textContent = "reconnecting…"; };
  on("progress", onProgress);
  on("listed", (listed) => { count.files = listed.files; draw(); });
  on("file", onFile);
  on("end", (end) => { source.close(); onEnd(end); });
})();
"""

CSS = """:root { color-scheme: light dark; --muted: #777; --line: #8884; --accent: #2a7ae2; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; }
header { display: flex; justify-content: space-between; align-items: center;
  padding: .6rem 1.2rem; border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; font-size: 1.2rem; text-decoration: none; color: inherit; }
header nav { display: flex; gap: 1rem; }
main { padding: 1rem 1.2rem; max-width: 80rem; }
a { color: var(--accent); }
code, pre { font: 13px/1.35 ui-monospace, monospace; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
td code.cid, dd code.cid { word-break: break-all; }
table.jobs td:nth-child(4) { max-width: 28rem; overflow-wrap: anywhere; }
table.jobs td:nth-child(5) { white-space: nowrap; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dt { color: var(--muted); }
dd { margin: 0; }
progress { width: 24rem; max-width: 100%; height: 1.1rem; vertical-align: middle; }
.nodes progress, .nodes meter { width: 16rem; }
.state { padding: .05rem .45rem; border-radius: .3rem; font-size: .85rem; font-weight: 600;
  background: #8883; }
.state-running { background: #2a7ae233; }
.state-succeeded { background: #2e9d4a33; }
.state-partial { background: #e2a22a44; }
.state-error, .state-cancelled, .state-interrupted { background: #d3383833; }
.error { color: #d33838; }
.hint { color: var(--muted); font-size: .9rem; }
#failure-list li { margin-bottom: .6rem; }
#failure-list .outcome { font-weight: 600; }
#failure-list .stderr { margin-top: .25rem; padding: .4rem; background: #8881;
  border-left: 3px solid #d33838; }
form.login { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
form.login input[type=password] { width: 28rem; max-width: 100%; padding: .35rem; }
button { padding: .35rem .9rem; }
"""

ICON = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">
<rect width="16" height="16" rx="3" fill="#2a7ae2"/>
<path d="M4 5l3 3-3 3M8 11h4" stroke="#fff" stroke-width="1.6" fill="none"/></svg>
"""

"""The API's OpenAPI 3.1 document (served at /openapi.json), written out: the API is small."""

from __future__ import annotations

from typing import Any

from codsh import __version__

_ERROR = {"$ref": "#/components/schemas/Error"}
_JOB = {"$ref": "#/components/schemas/Job"}


def _response(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    content = {"application/json": {"schema": schema}} if schema else {}
    return {"description": description, **({"content": content} if content else {})}


_ERRORS = {
    "400": _response("bad input: the error says what and the hint what to do", _ERROR),
    "401": _response("no valid bearer token", _ERROR),
    "404": _response("no such job of yours", _ERROR),
}
_PATH = {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}
_JOB_ID = [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}]


_PARTS = {
    "type": "object",
    "additionalProperties": {"type": "string"},
    "description": "part name (one path component) -> CID or CID/path",
}
_DATASET_FIELDS: dict[str, Any] = {
    "parts": _PARTS,
    "find_timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600},
}
_DATASET = {
    "type": "object",
    "additionalProperties": False,
    "required": ["parts"],
    "properties": _DATASET_FIELDS,
}
_DATASET_ADD = _DATASET | {"properties": _DATASET_FIELDS | {"replace": {"type": "boolean"}}}
_MADE = {
    "type": "object",
    "properties": {
        "cid": {"type": "string"},
        "parts": {"type": "integer", "description": "parts linked"},
        "directories": {"type": "integer", "description": "of which directories"},
    },
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def document() -> dict[str, Any]:  # long: one literal, the document as it is served
    spec_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["input"],
        "properties": {
            "command": {"type": "string", "description": "the shell command run per file"},
            "input": {"type": "string", "description": "CID or CID/path"},
            "image": {"type": "string"},
            "image_digest": {"type": "string", "description": "the image ID the nodes run"},
            "mode": {"enum": ["per-file", "concat"]},
            "kind": {"enum": ["shell", "python", "wasm"]},
            "program": {"type": "string", "description": "bundle or module CID"},
            "limits": {"type": "object", "additionalProperties": False},
            "target": {"type": "object", "additionalProperties": False},
            "image_cid": {"type": "string", "description": "the image folder's CID (images push)"},
            "replicas": {
                "type": "integer",
                "minimum": 1,
                "maximum": 15,
                "description": "nodes each file runs on; their outputs are voted on",
            },
            "verify": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "replicas run on this fraction of the files only (0: all)",
            },
            "ok_exit": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": 255},
                "description": "exit statuses that succeed (default: 0, and grep's 1 'no match')",
            },
            "name": {"type": "string", "description": "the job's name (e.g. nightly)"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "codsh orchestrator", "version": __version__},
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "hint": {"type": "string"}},
                },
                "Job": {"type": "object", "description": "a job record (codsh job describe)"},
                "JobSpec": spec_schema,
            },
        },
        "security": [{"token": []}],
        "paths": {
            "/v1/jobs": {
                "post": {
                    "summary": "Submit a job",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/JobSpec"}}
                        },
                    },
                    "responses": {
                        "201": _response("the job, running", _JOB),
                        "413": _response("body too large", _ERROR),
                        "429": _response("past your token's jobs at once or files per job", _ERROR),
                        **_ERRORS,
                    },
                },
                "get": {
                    "summary": "Your jobs, newest first",
                    "parameters": [
                        {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                        {"name": "name", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {"200": _response("jobs", {"type": "array", "items": _JOB})},
                },
            },
            "/v1/jobs/{job_id}": {
                "get": {
                    "summary": "One job's record",
                    "parameters": _JOB_ID,
                    "responses": {"200": _response("the job", _JOB), **_ERRORS},
                }
            },
            "/v1/jobs/{job_id}/cancel": {
                "post": {
                    "summary": "Cancel a running job (what finished is kept)",
                    "parameters": _JOB_ID,
                    "responses": {
                        "202": _response("cancelling"),
                        "409": _response("not running", _ERROR),
                        **_ERRORS,
                    },
                }
            },
            "/v1/jobs/{job_id}/resume": {
                "post": {
                    "summary": "Resume an interrupted, cancelled or failed job: the files it "
                    "recorded are kept, the others run (follow it with /events)",
                    "parameters": _JOB_ID,
                    "responses": {
                        "202": _response("the job, running again; files_done: files kept", _JOB),
                        "409": _response("the job is running", _ERROR),
                        "429": _response("past your token's jobs at once or files per job", _ERROR),
                        **_ERRORS,
                    },
                }
            },
            "/v1/jobs/{job_id}/events": {
                "get": {
                    "summary": "Server-sent events: progress (counts so far), listed, file (per "
                    "file run or failed; successful memo reuses come as progress counts), end",
                    "parameters": _JOB_ID,
                    "responses": {
                        "200": {
                            "description": "an event stream",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}},
                        },
                        **_ERRORS,
                    },
                }
            },
            "/v1/health": {"get": {"summary": "Who you are, where jobs run", "responses": {}}},
            "/v1/images/pip-target": {
                "get": {
                    "summary": "The wheel tags of a Python image here (?image=NAME, default "
                    "codsh/python): {python, abi, platforms}, for `pip download` on a client",
                    "responses": {
                        "200": _response("the tags"),
                        "400": _response("no such image, or not a codsh Python image", _ERROR),
                        "401": _ERRORS["401"],
                    },
                }
            },
            "/v1/nodes": {
                "get": {
                    "summary": "The nodes (inventory round, kept a few seconds): {runs_on, age, "
                    "nodes: [{name, healthy, labels, slots, peer, error, address, "
                    "tally: {files, ok, failed, agreed, outvoted, disputed}}]}",
                    "responses": {
                        "200": _response("the nodes"),
                        "401": _ERRORS["401"],
                        "503": _response("the cluster does not answer", _ERROR),
                    },
                }
            },
            "/v1/names": {
                "get": {
                    "summary": "The stable names jobs published (--name): "
                    "{names: [{name, key, cid, job, owner, published}]}",
                    "responses": {"200": _response("the names"), "401": _ERRORS["401"]},
                }
            },
            "/v1/resolve": {
                "get": {
                    "summary": "?path=NAME[/p] or /ipns/KEY[/p]: {cid} (what a job would run on)",
                    "responses": {
                        "200": _response("the CID"),
                        "400": _response("not a name or a path", _ERROR),
                        "401": _ERRORS["401"],
                    },
                }
            },
            "/v1/datasets": {
                "post": {
                    "summary": "Link parts into a new dataset on the orchestrator's kubo "
                    "(`codsh dataset new`): the same checks and CID",
                    "requestBody": {"required": True, "content": _json(_DATASET)},
                    "responses": {"201": _response("the dataset", _MADE), **_ERRORS},
                }
            },
            "/v1/datasets/{path}/parts": {
                "post": {
                    "summary": "A new dataset: dataset CID[/path] and more parts "
                    "(`codsh dataset add`; a name it has is refused unless replace)",
                    "parameters": [_PATH],
                    "requestBody": {"required": True, "content": _json(_DATASET_ADD)},
                    "responses": {"201": _response("the new dataset", _MADE), **_ERRORS},
                }
            },
            "/v1/add": {
                "post": {
                    "summary": "Add files and folders (a tar stream) to the orchestrator's kubo",
                    "requestBody": {"content": {"application/x-tar": {"schema": {}}}},
                    "responses": {"200": _response("[{name, cid}] per top-level entry")},
                }
            },
            "/v1/ls/{path}": {
                "get": {
                    "summary": "List CID[/path] ({dir, entries}); ?recursive=1 for the tree",
                    "parameters": [_PATH],
                    "responses": {"200": _response("the listing"), **_ERRORS},
                }
            },
            "/v1/cat/{path}": {
                "get": {
                    "summary": "The bytes of a file CID[/path], streamed",
                    "parameters": [_PATH],
                    "responses": {
                        "200": {
                            "description": "the file",
                            "content": {"application/octet-stream": {"schema": {}}},
                        },
                        **_ERRORS,
                    },
                }
            },
        },
    }

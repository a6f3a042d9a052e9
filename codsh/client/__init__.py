"""The clients of codsh: the SDK (`codsh.connect`) and the orchestrator's API client.

api         the orchestrator's HTTP API on http.client (the CLI uses it too)
sdk         connect() and the Client: submit, pipe, job, add, cat
job         Job (result, status, files, events, cancel) and JobFailed
backend     what both modes provide (a Protocol)
remote      the mode through the orchestrator
local       the in-process mode (local kubo, Docker, job store)
programs    what a submitted command, function or module becomes
options     the keyword options, as the CLI's
waiting     wait() and as_completed()
"""

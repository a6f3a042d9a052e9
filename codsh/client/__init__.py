"""The clients of codsh: the orchestrator's HTTP API client (api.py); the SDK builds on it."""

"""The orchestrator (`codsh serve`): the only Dask client, behind an HTTP API with tokens.

tokens      bearer tokens, one per user, stored hashed
service     runs submitted jobs through the job pipeline; their live events
app         the ASGI app (Starlette): routes, authentication, errors as JSON
openapi     the OpenAPI document served at /openapi.json
server      hypercorn's trio worker serving the app beside the service
"""

"""The HTTP gateway: requests become events on the bus, their reply events become responses.

Like every service it talks to the others only through events. Files in the order a request
passes them:

settings.py  GatewaySettings (AIWF_GATEWAY_*)
app.py       create_app: lifespan (Redis, reply reader, exchange), body guard, routers
limits.py    BodyGuard: 413 over the size limit, 400 for JSON nested too deep, before any parsing
errors.py    one error shape {"error", "message"}; 422 names the field
bodies.py    request bodies made from the schemas' event models
llm.py tts.py    the routes: body -> request event -> Exchange.ask -> rendered reply
exchange.py  publish the request, wait for its reply (or 202), 503 for an offline service
replies.py   one XREAD BLOCK reader per process resolving the waiters' futures
services.py  which services are up (heartbeats, cached) and the status rows
system.py    /health, /api/v1/status, /api/v1/requests/{id}
"""

from aiwf.gateway.app import create_app
from aiwf.gateway.settings import GatewaySettings

__all__ = ["GatewaySettings", "create_app"]

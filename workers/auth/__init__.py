"""auth engine: password hashing, lockout, signed access tokens, rotating refresh tokens, the User aggregate.

Pure domain code: no Redis, no bus. A handler loads a ``User`` from its events,
calls a command, stores the returned events and publishes the outcome.

Modules, in the order a login touches them: ``passwords`` (policy + Argon2id),
``lockout`` (failure window), ``tokens`` (signing keys, JWKS, access tokens),
``refresh`` (refresh-token families), ``user`` (the aggregate), ``errors``.
"""

"""auth: password hashing, lockout, signed access tokens, rotating refresh tokens, users in the event store.

The service, in the order one request walks it: ``service`` (the subscription and its routes),
``runtime`` (settings and the deps the lifespan builds: store, repositories, hasher, signing
keys), ``lookup`` (the reads a handler starts with), the handlers ``registration``, ``login``
(login, refresh) and ``revocation`` (revocation, password change), each returning one Decision.

The engine underneath is pure domain code, no Redis and no bus: ``outcome`` (settings, context,
what a command returns), ``state`` (a user rebuilt from its events), ``user`` (the commands),
``passwords`` (policy + Argon2id), ``lockout`` (failure window), ``tokens`` (signing keys, JWKS,
access tokens), ``refresh`` (refresh-token families), ``store`` (the aggregates on the event
store), ``signing`` (the key ring on the store), ``verify`` (offline token checks), ``errors``.
"""

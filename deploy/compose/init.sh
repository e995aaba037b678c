#!/bin/sh
# compose.yaml's one-shot `init` service: on first run, create the sealing keys, the Redis CA and
# certificates, the ACL file and one password per Redis user, then give each container only its
# own files. Idempotent: what exists is kept (keys and passwords are never regenerated), the
# per-container copies are laid out again on every run.
#
# Runs as root with CHOWN/DAC_OVERRIDE/FOWNER only and no network, because the Redis container
# (uid 999 in the official image) and the aiwf containers (uid 10001, the Dockerfile's) each need
# files they alone can read. Paths, owners and the server certificate's host names are variables
# so tests can run it in a scratch dir.
set -eu
ROOT="${AIWF_INIT_ROOT:-/run/aiwf}"
SERVICES="${AIWF_INIT_SERVICES:-auth calendar documents llm tts pipeline gateway cli operator}"
AIWF_OWNER="${AIWF_INIT_OWNER:-10001:10001}"
REDIS_OWNER="${AIWF_INIT_REDIS_OWNER:-999:999}"
TLS_HOSTS="${AIWF_INIT_TLS_HOSTS:-redis}"
LLM_API_KEY_FILE="${AIWF_INIT_LLM_API_KEY_FILE:-/run/secrets/llm_api_key}"
GEN="$ROOT/generated"
umask 077
mkdir -p "$GEN"

[ -e "$GEN/keys/auth.key" ] || AIWF_KEYS_DIR="$GEN/keys" aiwf keys generate >/dev/null
[ -e "$GEN/tls/ca.crt" ] || aiwf certs generate --dir "$GEN/tls" --hosts "$TLS_HOSTS" --clients "$(echo $SERVICES | tr ' ' ,)"
[ -e "$GEN/redis.acl" ] || aiwf acl generate --out "$GEN/redis.acl" --passwords-dir "$GEN/passwords" >/dev/null

# Redis: the ACL file, its server certificate, and the `cli` identity its health check uses.
mkdir -p "$ROOT/redis"
cp "$GEN/redis.acl" "$ROOT/redis/users.acl"
cp "$GEN/tls/ca.crt" "$GEN/tls/server.crt" "$GEN/tls/server.key" "$ROOT/redis/"
cp "$GEN/tls/cli.crt" "$ROOT/redis/health.crt"
cp "$GEN/tls/cli.key" "$ROOT/redis/health.key"
cp "$GEN/passwords/aiwf-cli" "$ROOT/redis/health-password"
chown -R "$REDIS_OWNER" "$ROOT/redis"

# Each aiwf container: its Redis password, client certificate and key, the CA, every public
# sealing key and its own private one (if it owns secrets); llm its LLM API key (compose's
# secret, copied on every run so a new key takes effect). Nothing of another service's.
for service in $SERVICES; do
  dir="$ROOT/services/$service"
  rm -rf "$dir"
  mkdir -p "$dir/keys"
  cp "$GEN/passwords/aiwf-$service" "$dir/redis-password"
  cp "$GEN/tls/$service.crt" "$dir/client.crt"
  cp "$GEN/tls/$service.key" "$dir/client.key"
  cp "$GEN/tls/ca.crt" "$dir/ca.crt"
  cp "$GEN"/keys/*.pub "$dir/keys/"
  if [ -e "$GEN/keys/$service.key" ]; then cp "$GEN/keys/$service.key" "$dir/keys/"; fi
  if [ "$service" = llm ] && [ -e "$LLM_API_KEY_FILE" ]; then cp "$LLM_API_KEY_FILE" "$dir/llm-api-key"; fi
  chown -R "$AIWF_OWNER" "$dir"
done
find "$ROOT/redis" "$ROOT/services" -type f -exec chmod 0400 {} +
find "$ROOT/redis" "$ROOT/services" -type d -exec chmod 0500 {} +
chmod 0755 "$ROOT" "$ROOT/services"
echo "aiwf init: keys, certificates and Redis users ready in $ROOT for: $SERVICES"

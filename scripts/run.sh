#!/usr/bin/env bash
# The README's first command: sets up the project's virtualenv and starts the originmark service
# on its embedded defaults, with no other server needed:
#   - data: the originmark home, ORIGINMARK_HOME, by default the user's data directory
#     (~/.local/share/originmark), the same for every folder: `originmark apikey create` run from
#     anywhere writes to the database this service reads. A ./data of the old layout in the
#     checkout is still used (with a warning) until `originmark home migrate` moves it;
#   - database: SQLite at HOME/originmark.db (ORIGINMARK_DATABASE_URL for PostgreSQL);
#   - signing credentials: HOME/keys; on the first start the service creates DEVELOPMENT keys
#     there and logs a loud warning (ORIGINMARK_SIGNING_CHAIN / _KEY for real credentials);
#   - address: 127.0.0.1:8000 (ORIGINMARK_HOST / ORIGINMARK_PORT, or --host / --port).
# The virtualenv is (re)installed only when pyproject.toml changed since the last install (a stamp
# with its hash in .venv): a restart spends ~2 s of its own (mostly the settings probe below)
# before the service starts, instead of ~13 s of pip.
# Arguments go to `originmark serve` (e.g. --workers 4). Ctrl-C stops the service.
# scripts/demo.sh is a walk-through of the command-line tool (sign, verify, inspect) instead.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.originmark-installed
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1) $(python3 --version 2>&1)"
if [[ ! -x .venv/bin/originmark || ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
  echo "Installing originmark and its dependencies into .venv (pyproject.toml changed or first run)..."
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e .
  printf '%s\n' "$wanted" >"$stamp"
fi
. .venv/bin/activate

# What the service will use, from the same settings it reads (a broken setting is left for
# `originmark serve` to report properly). Tab-separated: a path may contain spaces.
settings=$(python - <<'PY' 2>/dev/null || true
from sqlalchemy.engine import make_url
from app.settings import Settings
s = Settings()
new_keys = s.signing_chain is None and not s.chain_path.exists() and not s.key_path.exists()
print(s.host, s.port, "new" if new_keys else "existing", s.keys_dir,
      make_url(s.database_url).render_as_string(hide_password=True), s.home, s.home_source.name, sep="\t")
PY
)
IFS=$'\t' read -r host port keys keys_dir database home home_source \
  <<<"${settings:-127.0.0.1	8000	unknown	?	?	?	?}"
if [[ -n "$home" && "$home" != "?" ]]; then
  export ORIGINMARK_HOME="$home"  # serve and its worker processes use exactly the home shown here
fi
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do  # --host / --port on the command line win over the settings
  case "${args[i]}" in
    --host) host="${args[i + 1]:-$host}" ;;
    --host=*) host="${args[i]#--host=}" ;;
    --port) port="${args[i + 1]:-$port}" ;;
    --port=*) port="${args[i]#--port=}" ;;
  esac
done
url="http://${host}:${port}"
[[ "$host" == *:* ]] && url="http://[${host}]:${port}"  # an IPv6 address

rule="================================================================================"
cat <<INFO
$rule
 originmark service
   listening on  $url   (API docs: $url/docs, health: $url/healthz)
   home          $home   (\`originmark info\` shows where everything is)
   database      $database
   signing keys  $keys_dir
INFO
if [[ "$home_source" == LEGACY ]]; then
  cat <<LEGACY
 !!! $home is the old ./data layout of this checkout: other folders do not find it.
 !!! Stop the service and run \`$PWD/.venv/bin/originmark home migrate\` to move it into the home.
LEGACY
fi
if [[ "$keys" == new ]]; then
  cat <<WARNING
 !!! No signing credentials yet: DEVELOPMENT keys will be created in $keys_dir now.
 !!! For trying originmark out ONLY: other verifiers show what they sign as "unrecognized"
 !!! and the private key sits unprotected on this disk. For production set
 !!! ORIGINMARK_SIGNING_CHAIN and ORIGINMARK_SIGNING_KEY (check them: originmark keys check).
 !!! An audit key (it authenticates the signature log) is created there too, unless
 !!! ORIGINMARK_AUDIT_KEY_FILE is set: keep a copy of it off this host.
WARNING
fi
cat <<USAGE
 Create an API key (in another terminal, from any folder):
   $PWD/.venv/bin/originmark apikey create --name me --scopes sign,verify,read
 then, with the key it prints once in KEY:
   curl -H "Authorization: Bearer \$KEY" -F file=@photo.jpg $url/v1/verify
   $PWD/.venv/bin/originmark verify --server $url --api-key "\$KEY" photos/ -r
 Ctrl-C stops the service.
$rule
USAGE
exec originmark serve "$@"

#!/usr/bin/env bash
# local-aws.sh — run a throw-away moto_server on 127.0.0.1 for offline
# `terraform init/plan/apply` and `aws` CLI calls.
#
# Usage:
#   scripts/local-aws.sh start  [DIR]   start moto, write DIR/terraformrc and DIR/env.sh
#   scripts/local-aws.sh stop   [DIR]   stop the moto started in DIR
#   scripts/local-aws.sh status [DIR]   exit 0 if the moto in DIR answers
#   scripts/local-aws.sh reset  [DIR]   wipe all moto state (POST /moto-api/reset)
#
#   DIR defaults to ${TMPDIR:-/tmp}/cora-local-aws.
#   After `start`:  . DIR/env.sh   (exports AWS_ENDPOINT_URL, fake credentials,
#   region, TF_CLI_CONFIG_FILE; unsets AWS_PROFILE)
#
# Environment knobs:
#   TF_PROVIDER_MIRROR   filesystem mirror holding registry.terraform.io/hashicorp/aws/...
#                        (default: /opt/tf-plugins, then a few common places)
#   MOTO_SERVER          moto_server executable (default: moto_server on PATH)
#   TERRAFORM            terraform executable (default: terraform on PATH)
#   LOCAL_AWS_REGION     region written to env.sh (default: us-east-1)
#   LOCAL_AWS_FIXED_PORT use this port instead of picking a free one
#   LOCAL_AWS_WAIT_SECS  seconds to wait for moto to answer (default: 30)
#
# Notes:
#   * moto's Lambda backend only needs docker to *invoke* functions; create /
#     update / get never touch docker, so no daemon is required for deploys.
#     Without a docker daemon, Invoke returns FunctionError "Handled" with an
#     "error running docker" payload. Do NOT switch moto to
#     {"lambda":{"use_docker":false}} (POST /moto-api/config): moto 5.2.1 then
#     uses a separate Lambda backend whose CreateFunction cannot see layers
#     ("One or more LayerVersion does not exist") and hides existing functions.
#   * The terraformrc written here is self-contained: it never reads
#     ~/.terraformrc, and `direct` is kept for every provider except hashicorp/aws
#     (which must come from the mirror).
set -euo pipefail

PROG=${0##*/}
DEFAULT_DIR="${TMPDIR:-/tmp}/cora-local-aws"

die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 1
}

log() {
  printf '%s: %s\n' "$PROG" "$*" >&2
}

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
}

# --- discovery -------------------------------------------------------------

find_mirror() {
  local cand
  local -a cands=()
  if [ -n "${TF_PROVIDER_MIRROR:-}" ]; then
    # An explicit setting must be right; don't silently fall back.
    [ -d "$TF_PROVIDER_MIRROR/registry.terraform.io/hashicorp/aws" ] || return 1
    (cd "$TF_PROVIDER_MIRROR" && pwd -P)
    return 0
  fi
  cands=(
    /opt/tf-plugins
    /usr/local/share/terraform/plugins
    /usr/share/terraform/plugins
    "${XDG_DATA_HOME:-$HOME/.local/share}/terraform/plugins"
    "$HOME/.terraform.d/plugins"
    "$HOME/.local/share/terraform/plugins"
    /opt/terraform/plugins
    /opt/terraform-plugins
    /usr/local/lib/terraform/plugins
  )
  for cand in "${cands[@]}"; do
    if [ -d "$cand/registry.terraform.io/hashicorp/aws" ]; then
      (cd "$cand" && pwd -P)
      return 0
    fi
  done
  return 1
}

find_free_port() {
  local py port i
  if [ -n "${LOCAL_AWS_FIXED_PORT:-}" ]; then
    printf '%s\n' "$LOCAL_AWS_FIXED_PORT"
    return 0
  fi
  for py in python3 python; do
    if command -v "$py" >/dev/null 2>&1 &&
      port=$("$py" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' 2>/dev/null) && [ -n "$port" ]; then
      printf '%s\n' "$port"
      return 0
    fi
  done
  # Fallback: random high port that nothing answers on.
  for i in $(seq 1 50); do
    port=$((20000 + (RANDOM * 32768 + RANDOM + i) % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      printf '%s\n' "$port"
      return 0
    fi
  done
  return 1
}

# moto answers GET /moto-api/data.json with 200 once it is serving.
moto_answers() {
  local port=$1
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/moto-api/data.json" 2>/dev/null
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
  fi
}

# moto_post PORT PATH [JSON]: POST to moto's control API.
moto_post() {
  local port=$1 path=$2 body=${3:-}
  local url="http://127.0.0.1:$port$path"
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o /dev/null --max-time 10 -X POST \
      -H 'Content-Type: application/json' --data "$body" "$url"
  else
    python3 -c 'import sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST",
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=10).read()' "$url" "$body"
  fi
}

pid_alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null
}

read_pid() {
  local dir=$1
  [ -f "$dir/moto.pid" ] || return 1
  tr -dc '0-9' <"$dir/moto.pid"
}

read_port() {
  local dir=$1
  [ -f "$dir/moto.port" ] || return 1
  tr -dc '0-9' <"$dir/moto.port"
}

# --- commands --------------------------------------------------------------

cmd_start() {
  local dir=$1 moto tf mirror region port pid waited attempt max_wait
  moto=${MOTO_SERVER:-moto_server}
  tf=${TERRAFORM:-terraform}
  region=${LOCAL_AWS_REGION:-us-east-1}
  max_wait=${LOCAL_AWS_WAIT_SECS:-30}

  command -v "$moto" >/dev/null 2>&1 ||
    die "moto_server not found ('$moto'); install it with: pip install 'moto[server]'"
  command -v "$tf" >/dev/null 2>&1 ||
    die "terraform not found ('$tf'); install terraform >= 1.5 or set TERRAFORM=/path/to/terraform"
  if [ -n "${TF_PROVIDER_MIRROR:-}" ] && ! mirror=$(find_mirror); then
    die "TF_PROVIDER_MIRROR=$TF_PROVIDER_MIRROR has no registry.terraform.io/hashicorp/aws/ inside"
  fi
  mirror=$(find_mirror) ||
    die "no Terraform provider mirror with registry.terraform.io/hashicorp/aws found; set TF_PROVIDER_MIRROR (looked in /opt/tf-plugins, /usr/local/share/terraform/plugins, ~/.terraform.d/plugins, ...)"

  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)

  # Already running here? Reuse it.
  if pid=$(read_pid "$dir") && pid_alive "$pid" && port=$(read_port "$dir") && moto_answers "$port"; then
    log "moto_server already running (pid $pid, port $port) in $dir"
  else
    rm -f "$dir/moto.pid" "$dir/moto.port"
    pid=""
    for attempt in 1 2 3 4 5; do
      port=$(find_free_port) || die "could not find a free port on 127.0.0.1"
      if moto_answers "$port"; then
        [ -z "${LOCAL_AWS_FIXED_PORT:-}" ] || die "port $port on 127.0.0.1 is already in use"
        continue
      fi
      printf '=== %s: moto_server -H 127.0.0.1 -p %s (attempt %s)\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$port" "$attempt" >>"$dir/moto.log"
      # All fds detached so a caller capturing our output does not hang.
      # MOTO_IAM_LOAD_MANAGED_POLICIES: without it AWS-managed policies such as
      # service-role/AWSLambdaBasicExecutionRole do not exist and
      # aws_iam_role_policy_attachment fails with NoSuchEntity (404).
      MOTO_IAM_LOAD_MANAGED_POLICIES=${MOTO_IAM_LOAD_MANAGED_POLICIES:-true} \
        nohup "$moto" -H 127.0.0.1 -p "$port" </dev/null >>"$dir/moto.log" 2>&1 &
      pid=$!
      waited=0
      while pid_alive "$pid" && ! moto_answers "$port"; do
        if [ "$waited" -ge $((max_wait * 5)) ]; then
          kill "$pid" 2>/dev/null || true
          die "moto_server (pid $pid) did not answer on 127.0.0.1:$port within ${max_wait}s; see $dir/moto.log"
        fi
        sleep 0.2
        waited=$((waited + 1))
      done
      # Make sure it is *our* process that answered (not a port-race loser).
      sleep 0.2
      if pid_alive "$pid" && moto_answers "$port"; then
        break
      fi
      log "moto_server did not come up on port $port (attempt $attempt); retrying"
      kill "$pid" 2>/dev/null || true
      pid=""
      [ -z "${LOCAL_AWS_FIXED_PORT:-}" ] || break
    done
    [ -n "$pid" ] || die "moto_server failed to start; see $dir/moto.log"
    printf '%s\n' "$pid" >"$dir/moto.pid"
    printf '%s\n' "$port" >"$dir/moto.port"
  fi

  cat >"$dir/terraformrc" <<EOF
# Written by $PROG: hashicorp/aws comes only from the local mirror.
disable_checkpoint = true

provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }
}
EOF

  cat >"$dir/env.sh" <<EOF
# Source me:  . $dir/env.sh   (written by $PROG; moto pid $pid)
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=$region
export AWS_DEFAULT_REGION=$region
export TF_CLI_CONFIG_FILE=$dir/terraformrc
export CHECKPOINT_DISABLE=1
export AWS_EC2_METADATA_DISABLED=true
export AWS_PAGER=
export LOCAL_AWS_DIR=$dir
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE
EOF

  log "moto_server pid $pid listening on http://127.0.0.1:$port"
  log "provider mirror: $mirror"
  log "now run:  . $dir/env.sh"
  # Machine-readable last line on stdout.
  printf '%s\n' "$dir/env.sh"
}

cmd_stop() {
  local dir=$1 pid i
  if ! pid=$(read_pid "$dir") || [ -z "$pid" ]; then
    log "no moto.pid in $dir; nothing to stop"
    return 0
  fi
  if pid_alive "$pid"; then
    # Only kill what we started: the pid must still be a moto_server.
    if [ -r "/proc/$pid/cmdline" ] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q moto; then
      log "pid $pid is no longer moto_server; not killing it"
    else
      kill "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do
        pid_alive "$pid" || break
        sleep 0.1
      done
      if pid_alive "$pid"; then
        kill -9 "$pid" 2>/dev/null || true
      fi
      log "stopped moto_server (pid $pid)"
    fi
  else
    log "moto_server (pid $pid) was not running"
  fi
  rm -f "$dir/moto.pid" "$dir/moto.port"
}

cmd_status() {
  local dir=$1 pid port
  if pid=$(read_pid "$dir") && pid_alive "$pid" && port=$(read_port "$dir") && moto_answers "$port"; then
    printf 'running pid=%s endpoint=http://127.0.0.1:%s\n' "$pid" "$port"
    return 0
  fi
  printf 'not running\n'
  return 1
}

cmd_reset() {
  local dir=$1 port
  port=$(read_port "$dir") || die "no moto.port in $dir; is it started?"
  moto_post "$port" /moto-api/reset ||
    die "reset failed on 127.0.0.1:$port"
  log "moto state reset"
}

main() {
  local cmd=${1:-}
  local dir=${2:-$DEFAULT_DIR}
  case "$cmd" in
    start) cmd_start "$dir" ;;
    stop) cmd_stop "$dir" ;;
    status) cmd_status "$dir" ;;
    reset) cmd_reset "$dir" ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"

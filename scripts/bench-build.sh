#!/usr/bin/env bash
# bench-build.sh: how much faster `cargo xtask build` is than the CORA shell build, on a
# generated, CORA-sized stack. A benchmark that prints ratios, not a test: it exits 0 whether
# or not the targets are met, and non-zero only when something is broken (a build failed, the
# builds disagree, a tool is missing).
#
# Usage: scripts/bench-build.sh [--quick] [--keep] [--runs N] [--baseline-no-compile] [--xtask BIN]
#                               [--sam VENV]
#
#   --quick                 3 modules and smaller wheels: a smoke test of the script, not a measurement
#   --keep                  keep the temporary directory (stack, wheelhouse, logs, reports)
#   --runs N                repetitions of the no-op, one-edit, copy, touch and warm-cache builds, median reported (default 5)
#   --baseline-no-compile   also time the baseline with pip --no-compile (no host .pyc), for reference
#   --xtask BIN             benchmark this binary instead of building target/debug/xtask
#   --sam VENV              also time `sam build --parallel` (aws-sam-cli installed in VENV, a venv of
#                           python 3.13: python3.13 -m venv VENV && VENV/bin/pip install aws-sam-cli),
#                           cold, from the same wheelhouse (PIP_NO_INDEX + PIP_FIND_LINKS), against
#                           the cold xtask build with uv: wall and CPU ratios
#
# What it does, all offline, in one temporary directory (under $TMPDIR, else /tmp):
#   1. scripts/bench_gen.py writes a wheelhouse of ~40 generated wheels (pure and cp313 manylinux,
#      with Requires-Dist between them) and bench-stack/: 9 modules, 29 functions, 10 layers,
#      14 of them with requirements naming those wheels, xtask.toml pointing at the wheelhouse.
#   2. baseline: what a CORA build.sh does, one artifact after another: cp -r, pip install -t
#      for the Lambda target, zip -qr. Wall clock.
#   3. xtask: cold with each installer (no .xtask/, no .build/, empty installer caches), then
#      no-op, one-handler-edited, stack-copied (cp -a) and every-file-touched rebuilds (median of N). Every xtask report is checked: no
#      failed artifact, the expected built/cached counts, the same files as the baseline's zips.
#   4. shared cache (when moto_server, the aws CLI and curl are on PATH): a cold build that
#      uploads to an S3 bucket on moto_server (127.0.0.1), then a fresh machine (the stack copied
#      elsewhere, no .xtask/, no zips, an empty uv cache) that downloads every zip, N times: its
#      median time against the cold uv build (target <= 10 %), and beside it the same objects
#      fetched by curl alone (the floor the server sets, which no client goes below).
#
# Needs: python3 with pip, zip, GNU time (/usr/bin/time; Debian: apt-get install time), cargo
# (unless --xtask); uv is optional (measured when present).
set -euo pipefail

die() { printf 'bench-build.sh: error: %s\n' "$*" >&2; exit 1; }
say() { printf '%s\n' "$*" >&2; }

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

quick=0 keep=0 runs=5 no_compile=0 xtask="" sam_venv=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --keep) keep=1 ;;
    --runs)
      [ $# -ge 2 ] || die "--runs needs a number"
      runs=$2
      shift
      ;;
    --baseline-no-compile) no_compile=1 ;;
    --xtask)
      [ $# -ge 2 ] || die "--xtask needs a path"
      xtask=$2
      shift
      ;;
    --sam)
      [ $# -ge 2 ] || die "--sam needs the venv holding aws-sam-cli"
      sam_venv=$2
      shift
      ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done
case "$runs" in '' | *[!0-9]* | 0) die "--runs must be a positive integer, not '$runs'" ;; esac
if [ -n "$sam_venv" ]; then
  [ -x "$sam_venv/bin/sam" ] || die "$sam_venv/bin/sam is missing: python3.13 -m venv $sam_venv && $sam_venv/bin/pip install aws-sam-cli"
  sam_venv=$(cd "$sam_venv" && pwd)
fi

root=$(cd "$(dirname "$0")/.." && pwd)
gen="$root/scripts/bench_gen.py"
[ -f "$gen" ] || die "$gen is missing (it generates the stack and checks the reports)"

# ---- prerequisites -------------------------------------------------------------------------
command -v python3 >/dev/null || die "python3 is missing: apt-get install python3"
python3 -m pip --version >/dev/null 2>&1 ||
  die "pip is missing for python3: apt-get install python3-pip (or python3 -m ensurepip)"
command -v zip >/dev/null || die "zip is missing (the baseline zips like build.sh does): apt-get install zip"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (GNU time, for peak RSS): apt-get install time"
/usr/bin/time -v true >/dev/null 2>&1 || die "/usr/bin/time is not GNU time (no -v): apt-get install time"

# ---- the work directory, the binary -----------------------------------------------------------
tail_of() { tail -n 25 "$1" | sed 's/^/    /' >&2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-build.XXXXXX")
moto_pid=""
finish() {
  local rc=$?
  [ -z "$moto_pid" ] || kill "$moto_pid" 2>/dev/null || true
  if [ "$keep" = 1 ] || [ "$rc" != 0 ]; then
    say "kept $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap finish EXIT

# The real interpreter and uv rather than version-manager shims (pyenv's cost ~60 ms a call, paid
# by the baseline's pip and the xtask's installers alike): tiny exec wrappers first on PATH, so
# both find the same python3 and uv. (Wrappers, not symlinks: a venv's python must keep its path.)
mkdir -p "$tmp/bin"
real_python=$(python3 -c 'import sys; print(sys.executable)')
printf '#!/bin/sh\nexec "%s" "$@"\n' "$real_python" >"$tmp/bin/python3"
have_uv=0
if command -v uv >/dev/null; then
  real_uv=$(command -v uv)
  if command -v pyenv >/dev/null && pyenv which uv >/dev/null 2>&1; then
    real_uv=$(pyenv which uv)
  fi
  printf '#!/bin/sh\nexec "%s" "$@"\n' "$real_uv" >"$tmp/bin/uv"
  have_uv=1
fi
have_cache=0
if command -v moto_server >/dev/null && command -v aws >/dev/null && command -v curl >/dev/null; then
  real_aws=$(command -v aws)
  if command -v pyenv >/dev/null && pyenv which aws >/dev/null 2>&1; then
    real_aws=$(pyenv which aws)
  fi
  printf '#!/bin/sh\nexec "%s" "$@"\n' "$real_aws" >"$tmp/bin/aws"
  have_cache=1
fi
chmod +x "$tmp/bin"/*
export PATH="$tmp/bin:$PATH"

if [ -z "$xtask" ]; then
  command -v cargo >/dev/null || die "cargo is missing: install Rust (https://rustup.rs) or pass --xtask BIN"
  say "building the xtask (cargo build -p xtask, not timed)..."
  if ! (cd "$root" && cargo build -p xtask) >"$tmp/cargo.log" 2>&1; then
    tail_of "$tmp/cargo.log"
    die "cargo build -p xtask failed"
  fi
  target_dir=${CARGO_TARGET_DIR:-target}
  case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
  xtask="$target_dir/debug/xtask"
fi
[ -x "$xtask" ] || die "$xtask is not an executable"
xtask=$(cd "$(dirname "$xtask")" && pwd)/$(basename "$xtask")

# Nothing touches the user's caches; pip never asks PyPI about its own version; plain progress.
export UV_CACHE_DIR="$tmp/uv-cache" PIP_DISABLE_PIP_VERSION_CHECK=1 NO_COLOR=1

say "generating the stack and the wheelhouse in $tmp..."
quick_flag=()
[ "$quick" = 1 ] && quick_flag=(--quick)
python3 "$gen" generate "$tmp" "${quick_flag[@]}"
MODULES="" FUNCTIONS="" LAYERS="" WITH_DEPS="" ARTIFACTS="" WHEELS="" WHEEL_BYTES="" WHEEL_UNZIPPED_BYTES=""
INSTALLED_BYTES="" CODE_BYTES="" EDIT_MODULE="" EDIT_FUNCTION="" HEAVY_FN_MODULE="" HEAVY_FN=""
HEAVY_LAYER_MODULE="" HEAVY_LAYER="" LIGHT_FN_MODULE="" LIGHT_FN=""
# shellcheck source=/dev/null
. "$tmp/stats.env"
stack="$tmp/bench-stack"
wh="$tmp/wheelhouse"

# ---- helpers -------------------------------------------------------------------------------
now() { date +%s.%N; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
secs() { awk -v s="$1" 'BEGIN { printf (s < 1 ? "%.3f s" : s < 10 ? "%.2f s" : "%.1f s"), s }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
passfail() { if "$@"; then echo PASS; else echo FAIL; fi; }
cpu_s() { awk -F': *' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$1"; }
rss_mb() { awk -F': *' '/Maximum resident set size/ { printf "%.0f MB", $2 / 1024 }' "$1"; }

# A requirements file with at least one line that is not a comment (what CORA's test meant).
has_reqs() { [ -f "$1" ] && grep -qvE '^[[:space:]]*(#|$)' "$1"; }

# ---- 1. baseline: the CORA build.sh recipe, sequential -------------------------------------
pip_opts=(--no-index --find-links "$wh" --platform manylinux2014_x86_64 --python-version 3.13
  --implementation cp --only-binary=:all: --quiet)

pip_target() { # requirements target
  python3 -m pip install -r "$1" -t "$2" "${pip_opts[@]}" "${extra_pip[@]}"
}

baseline_build() {
  local backend x l
  # `|| return 1` everywhere: errexit does not apply inside a function whose status is tested.
  for backend in "$stack"/packages/module-*/backend; do
    cd "$backend" || return 1
    mkdir -p .build || return 1
    for x in lambdas/*/; do
      x=$(basename "$x")
      rm -rf "build/$x" && mkdir -p "build/$x" || return 1
      cp -r "lambdas/$x"/* "build/$x"/ || return 1
      if has_reqs "lambdas/$x/requirements.txt"; then
        pip_target "lambdas/$x/requirements.txt" "build/$x" || return 1
      fi
      (cd "build/$x" && zip -qr "../../.build/$x.zip" .) || return 1
    done
    for l in layers/*/; do
      l=$(basename "$l")
      rm -rf "build/$l" && mkdir -p "build/$l/python" || return 1
      cp -r "layers/$l/python"/* "build/$l/python"/ || return 1
      if has_reqs "layers/$l/requirements.txt"; then
        pip_target "layers/$l/requirements.txt" "build/$l/python" || return 1
      fi
      (cd "build/$l" && zip -qr "../../.build/$l-layer.zip" .) || return 1
    done
  done
}

reset_outputs() {
  rm -rf "$stack/.xtask"
  rm -rf "$stack"/packages/module-*/backend/.build "$stack"/packages/module-*/backend/build
}

run_baseline() { # label extra-pip-args...
  local label=$1 t0 t1
  shift
  extra_pip=("$@")
  reset_outputs
  say "baseline ($label): sequential cp + pip install -t + zip -qr, $ARTIFACTS artifacts..."
  t0=$(now)
  # `times` in the subshell: the CPU of everything it ran (pip, zip), for the CPU ratio.
  if ! (PIP_NO_CACHE_DIR=1 baseline_build && times >"$tmp/baseline-$label.times") \
    >"$tmp/baseline-$label.log" 2>&1; then
    tail_of "$tmp/baseline-$label.log"
    die "the baseline build failed (log: $tmp/baseline-$label.log)"
  fi
  t1=$(now)
  elapsed=$(minus "$t0" "$t1")
  # Second line: the children's user and system time, as `1m2.345s 0m6.789s`.
  elapsed_cpu=$(sed -n 2p "$tmp/baseline-$label.times" | awk '{
    s = 0
    for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); s += p[1] * 60 + p[2] }
    printf "%.2f", s }')
  local n
  n=$(find "$stack"/packages -path '*/backend/.build/*.zip' | wc -l)
  [ "$n" -eq "$ARTIFACTS" ] || die "the baseline made $n zips, expected $ARTIFACTS"
  say "  $(secs "$elapsed")"
}

run_baseline "pip"
baseline_s=$elapsed
baseline_cpu=$elapsed_cpu
# Keep the baseline's zips to compare file lists with the xtask's.
for m in "$stack"/packages/module-*; do
  mkdir -p "$tmp/baseline-zips/$(basename "$m")"
  mv "$m"/backend/.build/*.zip "$tmp/baseline-zips/$(basename "$m")/"
done
baseline_zip_bytes=$(python3 "$gen" zipsize "$tmp/baseline-zips")
baseline_nc_s=""
if [ "$no_compile" = 1 ]; then
  run_baseline "pip-no-compile" --no-compile
  baseline_nc_s=$elapsed
fi
reset_outputs

# ---- 2. xtask ------------------------------------------------------------------------------
set_installer() {
  sed -i "s/^installer = .*/installer = \"$1\"/" "$stack/xtask.toml"
  grep -q "^installer = \"$1\"" "$stack/xtask.toml" || die "cannot set installer in $stack/xtask.toml"
}

# xtask_run NAME CHECK-ARGS... -- runs the build with --json, times it, checks the report.
xtask_run() {
  local name=$1 t0 t1
  shift
  t0=$(now)
  if ! "${timer[@]}" "$xtask" build --stack "$stack" --json >"$tmp/$name.json" 2>"$tmp/$name.log"; then
    tail_of "$tmp/$name.log"
    die "xtask build failed ($name; log: $tmp/$name.log)"
  fi
  t1=$(now)
  elapsed=$(minus "$t0" "$t1")
  python3 "$gen" check "$tmp/$name.json" "$@" >"$tmp/$name.check" || die "unexpected xtask report ($name)"
}

declare -A cold_s cold_rss
installers=(pip)
[ "$have_uv" = 1 ] && installers+=(uv)
for inst in "${installers[@]}"; do
  set_installer "$inst"
  reset_outputs
  # Cold for the installer too: an empty uv cache (pip keeps no cache for local find-links
  # wheels, and PIP_NO_CACHE_DIR=1 rules out the rest, as in the baseline).
  UV_CACHE_DIR=$(mktemp -d "$tmp/uv-cache-cold.XXXXXX")
  export UV_CACHE_DIR
  timer=(/usr/bin/time -v -o "$tmp/cold-$inst.time")
  say "xtask cold ($inst)..."
  PIP_NO_CACHE_DIR=1 xtask_run "cold-$inst" --built "$ARTIFACTS" --cached 0 --total "$ARTIFACTS"
  cold_s[$inst]=$elapsed
  cold_rss[$inst]=$(rss_mb "$tmp/cold-$inst.time")
  say "  $(secs "$elapsed"), $(cat "$tmp/cold-$inst.check")"
done
last=${installers[${#installers[@]} - 1]}

# ---- 2b. shared cache: machine A uploads, a fresh machine B downloads ------------------------
upload_s="" remote_s="" floor_s="" uv_cpu=""
if [ "$have_cache" = 1 ]; then
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  moto_server -H 127.0.0.1 -p "$port" >"$tmp/moto.log" 2>&1 &
  moto_pid=$!
  for _ in $(seq 150); do
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/moto-api/data.json" 2>/dev/null && break
    sleep 0.2
  done
  cache_env=(env AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=testing
    AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
    XTASK_CACHE=s3://bench-cache/stack)
  "${cache_env[@]}" aws s3api create-bucket --bucket bench-cache >/dev/null ||
    die "cannot create the cache bucket on moto_server (log: $tmp/moto.log)"
  reset_outputs
  UV_CACHE_DIR=$(mktemp -d "$tmp/uv-cache-cold.XXXXXX")
  export UV_CACHE_DIR
  timer=("${cache_env[@]}")
  say "xtask cold ($last) uploading to the shared cache..."
  xtask_run "cache-upload" --built "$ARTIFACTS" --cached 0 --total "$ARTIFACTS"
  upload_s=$elapsed
  say "  $(secs "$elapsed"), $(cat "$tmp/cache-upload.check")"
  # A fresh machine: the stack at another path, no .xtask/, no zips, an empty uv cache.
  home_stack=$stack
  mkdir -p "$tmp/fresh"
  cp -a "$home_stack" "$tmp/fresh/" # not timed
  stack="$tmp/fresh/$(basename "$home_stack")"
  # Each run a fresh machine again: no .xtask/ (state, dependency cache), no zips.
  remote_runs=()
  say "xtask fresh machine, warm shared cache, $runs runs..."
  for i in $(seq "$runs"); do
    reset_outputs
    UV_CACHE_DIR=$(mktemp -d "$tmp/uv-cache-cold.XXXXXX")
    timer=("${cache_env[@]}" /usr/bin/time -v -o "$tmp/cache-remote.time")
    xtask_run "cache-remote" --built 0 --cached 0 --remote "$ARTIFACTS" --total "$ARTIFACTS"
    remote_runs+=("$elapsed")
  done
  remote_s=$(median "${remote_runs[@]}")
  say "  ${remote_runs[*]}; $(cat "$tmp/cache-remote.check")"
  read -r ndiff _ < <(python3 "$gen" shas "$tmp/cache-upload.json" "$tmp/cache-remote.json")
  [ "$ndiff" = 0 ] || die "$ndiff zips downloaded from the shared cache differ from the ones uploaded"
  # The floor the server sets: curl alone fetching the same objects into files, as the xtask's
  # one curl does (8 at a time, presigned GETs), without building anything or checking a hash.
  # boto3 comes with moto.
  if "${cache_env[@]}" python3 - "$tmp/floor" >"$tmp/floor.curl" <<'PY'
import sys, boto3
s3 = boto3.client("s3")
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="bench-cache")["Contents"] if "/artifacts/" in o["Key"]]
for i, k in enumerate(keys):
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "bench-cache", "Key": k}, ExpiresIn=3600)
    print(f'url = "{url}"\noutput = "{sys.argv[1]}/{i}"')
PY
  then
    nobj=$(grep -c '^url' "$tmp/floor.curl")
    [ "$nobj" = "$ARTIFACTS" ] || die "the shared cache holds $nobj artifact objects, not $ARTIFACTS"
    floor_runs=()
    for i in $(seq "$runs"); do
      rm -rf "$tmp/floor" && mkdir -p "$tmp/floor"
      t0=$(now)
      curl -fsS --parallel --parallel-max 8 --config "$tmp/floor.curl" || die "curl could not fetch the cache's objects"
      t1=$(now)
      floor_runs+=("$(minus "$t0" "$t1")")
    done
    floor_s=$(median "${floor_runs[@]}")
    say "  curl alone: ${floor_runs[*]}"
    rm -rf "$tmp/floor"
  else
    say "  curl alone: not measured (python3 has no boto3 to presign the GETs)"
  fi
  stack=$home_stack
  rm -rf "$tmp/fresh"
  timer=()
  kill "$moto_pid" 2>/dev/null || true
  moto_pid=""
else
  say "shared cache: skipped (needs moto_server, the aws CLI and curl on PATH)"
fi

# ---- 2c. AWS SAM CLI, optional: `sam build --parallel` of the same stack, cold ---------------
sam_s="" sam_cpu=""
if [ -n "$sam_venv" ]; then
  python3 "$gen" samtemplate "$stack" "$tmp/template.yaml"
  sam_runs=() sam_cpus=()
  say "sam build --parallel (cold: no build dir, no pip cache), $runs runs..."
  for i in $(seq "$runs"); do
    rm -rf "$tmp/sam-build" "$tmp/.aws-sam"
    t0=$(now)
    # SAM installs with pip from an index: the same local wheels, the venv's python3.13 first.
    if ! (cd "$tmp" && PATH="$sam_venv/bin:$PATH" SAM_CLI_TELEMETRY=0 PIP_NO_INDEX=1 PIP_FIND_LINKS="$wh" \
      PIP_NO_CACHE_DIR=1 /usr/bin/time -v -o "$tmp/sam.time" "$sam_venv/bin/sam" build --parallel \
      --template-file "$tmp/template.yaml" --build-dir "$tmp/sam-build") >"$tmp/sam.log" 2>&1; then
      tail_of "$tmp/sam.log"
      die "sam build failed (log: $tmp/sam.log)"
    fi
    t1=$(now)
    sam_runs+=("$(minus "$t0" "$t1")")
    sam_cpus+=("$(cpu_s "$tmp/sam.time")")
  done
  sam_s=$(median "${sam_runs[@]}")
  sam_cpu=$(median "${sam_cpus[@]}")
  say "  ${sam_runs[*]} (CPU ${sam_cpus[*]})"
fi

# What each zip holds (all cached: not timed), for the comparison and the bytes summary.
"$xtask" size --stack "$stack" --json >"$tmp/size.json" 2>"$tmp/size.log" || {
  tail_of "$tmp/size.log"
  die "xtask size failed (log: $tmp/size.log)"
}
read -r rt_bytes rt_zips dedupe_bytes dedupe_zips < <(python3 "$gen" shipped "$tmp/cold-$last.json" "$tmp/size.json")

# Same files as the baseline, apart from host .pyc, installer bookkeeping and the distributions
# an attached layer already ships?
same_files=$(python3 "$gen" compare "$tmp/baseline-zips" "$tmp/cold-$last.json" "$tmp/size.json") ||
  die "the xtask's zips and the baseline's zips hold different files: $same_files"
xtask_zip_bytes=$(python3 "$gen" zipsize "$stack/packages")
identical=""
if [ "$have_uv" = 1 ]; then
  read -r ndiff difflist < <(python3 "$gen" shas "$tmp/cold-pip.json" "$tmp/cold-uv.json")
  identical="$((ARTIFACTS - ndiff))/$ARTIFACTS identical between pip and uv${difflist:+ (differ: $difflist)}"
fi

timer=()
noop=()
say "xtask no-op ($last), $runs runs..."
for i in $(seq "$runs"); do
  xtask_run "noop-$i" --built 0 --cached "$ARTIFACTS" --total "$ARTIFACTS"
  noop+=("$elapsed")
done
timer=(/usr/bin/time -v -o "$tmp/noop.time")
xtask_run "noop-rss" --built 0 --cached "$ARTIFACTS"
noop_rss=$(rss_mb "$tmp/noop.time")
timer=()
say "  ${noop[*]}"

handler="$stack/packages/$EDIT_MODULE/backend/lambdas/$EDIT_FUNCTION/lambda_function.py"
[ -f "$handler" ] || die "$handler is missing"
edit=()
say "xtask one handler edited ($EDIT_MODULE/$EDIT_FUNCTION), $runs runs..."
for i in $(seq "$runs"); do
  printf '# bench-build edit %s\n' "$i" >>"$handler"
  xtask_run "edit-$i" --built 1 --cached "$((ARTIFACTS - 1))" --total "$ARTIFACTS"
  edit+=("$elapsed")
done
say "  ${edit[*]}"

# The heavy edits, interleaved run by run so their ratio comes from the same machine state: a
# function with >= 25 MB of zipped dependencies, a layer with as much, and a function with none.
heavy_fn_file="$stack/packages/$HEAVY_FN_MODULE/backend/lambdas/$HEAVY_FN/lambda_function.py"
light_fn_file="$stack/packages/$LIGHT_FN_MODULE/backend/lambdas/$LIGHT_FN/lambda_function.py"
heavy_layer_file=$(find "$stack/packages/$HEAVY_LAYER_MODULE/backend/layers/$HEAVY_LAYER/python" -name '__init__.py' | sort | head -n 1)
for f in "$heavy_fn_file" "$light_fn_file" "$heavy_layer_file"; do
  [ -f "$f" ] || die "${f:-an __init__.py of the heavy layer} is missing"
done
heavy_fn=() heavy_layer=() light_fn=()
say "xtask heavy edits ($HEAVY_FN_MODULE/$HEAVY_FN, layer $HEAVY_LAYER_MODULE/$HEAVY_LAYER, and $LIGHT_FN_MODULE/$LIGHT_FN without dependencies), $runs runs..."
for i in $(seq "$runs"); do
  for which in light_fn heavy_fn heavy_layer; do
    file_var="${which}_file"
    printf '# bench-build %s edit %s\n' "$which" "$i" >>"${!file_var}"
    xtask_run "$which-$i" --built 1 --cached "$((ARTIFACTS - 1))" --total "$ARTIFACTS"
    eval "$which+=(\"\$elapsed\")"
  done
done
say "  light ${light_fn[*]}; heavy function ${heavy_fn[*]}; heavy layer ${heavy_layer[*]}"
heavy_fn_zip=$(stat -c %s "$stack/packages/$HEAVY_FN_MODULE/backend/.build/$HEAVY_FN.zip")
heavy_layer_zip=$(stat -c %s "$stack/packages/$HEAVY_LAYER_MODULE/backend/.build/$HEAVY_LAYER-layer.zip")

# Every zip again from the cached dependency trees, with no pack: the xtask alone (no installer
# runs) deflating everything, in parallel; its peak RSS and how many cores it kept busy.
say "xtask rezip everything (dependency trees cached, packs and state removed)..."
rm -f "$stack"/.xtask/deps/*.packed-*.zip "$stack/.xtask/state.json"
timer=(/usr/bin/time -v -o "$tmp/rezip.time")
xtask_run "rezip" --built "$ARTIFACTS" --cached 0 --total "$ARTIFACTS"
timer=()
rezip_s=$elapsed
rezip_cpu=$(cpu_s "$tmp/rezip.time")
rezip_rss=$(rss_mb "$tmp/rezip.time")
say "  $(secs "$rezip_s"), CPU $rezip_cpu s, peak RSS $rezip_rss"

# The same bytes with new inodes, ctimes or mtimes: a stack copied (cp -a) or restored from a CI
# cache, and every file touched. Nothing may rebuild; each zip is re-hashed once.
copy=()
say "xtask stack copied with cp -a, $runs runs..."
home_stack=$stack
for i in $(seq "$runs"); do
  rm -rf "$tmp/copy"
  mkdir -p "$tmp/copy"
  cp -a "$home_stack" "$tmp/copy/" # not timed
  stack="$tmp/copy/$(basename "$home_stack")"
  xtask_run "copy-$i" --built 0 --cached "$ARTIFACTS" --total "$ARTIFACTS"
  copy+=("$elapsed")
done
stack=$home_stack
rm -rf "$tmp/copy"
say "  ${copy[*]}"
touched=()
say "xtask every file of the stack touched, $runs runs..."
for i in $(seq "$runs"); do
  find "$stack" -type f -exec touch {} + # not timed
  xtask_run "touch-$i" --built 0 --cached "$ARTIFACTS" --total "$ARTIFACTS"
  touched+=("$elapsed")
done
say "  ${touched[*]}"
# The same stack with runtime_provided = "drop": the bytes the runtime's SDK costs. (Last, as
# it rebuilds every artifact with dependencies.)
say "xtask with runtime_provided = \"drop\"..."
sed -i '1i runtime_provided = "drop"' "$stack/xtask.toml"
xtask_run "drop" --total "$ARTIFACTS"
drop_zip_bytes=$(python3 "$gen" zipsize "$stack/packages")
baseline_sdk_zips=$(python3 "$gen" sdkzips "$tmp/baseline-zips")

# ---- 3. summary ----------------------------------------------------------------------------
noop_med=$(median "${noop[@]}")
edit_med=$(median "${edit[@]}")
light_med=$(median "${light_fn[@]}")
heavy_fn_med=$(median "${heavy_fn[@]}")
heavy_layer_med=$(median "${heavy_layer[@]}")
heavy_x=$(awk -v a="$heavy_fn_med" -v b="$light_med" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')
copy_med=$(median "${copy[@]}")
touch_med=$(median "${touched[@]}")
cores=$(nproc 2>/dev/null || echo "?")
uv_version=""
[ "$have_uv" = 1 ] && uv_version=", $(uv --version | awk '{ print $1 " " $2 }')"

row() { printf '%-40s%s\n' "$1" "$2"; }
{
  echo
  [ "$quick" = 1 ] && echo "QUICK MODE: a smaller stack to smoke-test the script; these are not the real numbers."
  echo "bench-build: $MODULES modules, $FUNCTIONS functions, $LAYERS layers, $WITH_DEPS with dependencies," \
    "wheelhouse $WHEELS wheels ($(mb "$WHEEL_BYTES"), $(mb "$WHEEL_UNZIPPED_BYTES") unzipped)," \
    "$(mb "$INSTALLED_BYTES") of dependencies installed across the stack, $(mb "$CODE_BYTES") of stack code"
  echo "machine: $cores cores (xtask -j $cores, its default; the baseline is sequential, as build.sh is)," \
    "python $(python3 -c 'import platform; print(platform.python_version())'), $(python3 -m pip --version | awk '{ print $1 " " $2 }')$uv_version"
  echo "fairness: every cold build starts with no zips, no .xtask/, PIP_NO_CACHE_DIR=1 and an empty UV_CACHE_DIR;"
  echo "  the wheelhouse is local (--no-index) and in the page cache for every run; the baseline's pip compiles"
  echo "  host .pyc (pip's default, as build.sh does; --baseline-no-compile times it without), the xtask installs"
  echo "  with --no-compile; same python3/pip for both, real binaries rather than version-manager shims"
  row "baseline (sequential pip + zip -r):" "$(secs "$baseline_s")   CPU $baseline_cpu s"
  if [ -n "$baseline_nc_s" ]; then
    row "baseline, pip --no-compile:" "$(secs "$baseline_nc_s")"
  fi
  for inst in uv pip; do
    [ -n "${cold_s[$inst]:-}" ] || continue
    extra=""
    [ -n "$baseline_nc_s" ] && extra="  ($(ratio "$baseline_nc_s" "${cold_s[$inst]}")x vs --no-compile baseline)"
    row "xtask cold ($inst):" "$(secs "${cold_s[$inst]}")   $(ratio "$baseline_s" "${cold_s[$inst]}")x faster   peak RSS ${cold_rss[$inst]}$extra"
  done
  if [ -n "$remote_s" ]; then
    pct=$(awk -v a="$remote_s" -v b="${cold_s[$last]}" 'BEGIN { printf "%.0f", (b > 0 ? 100 * a / b : 0) }')
    row "xtask cold ($last) + upload to S3:" "$(secs "$upload_s")   (moto_server on 127.0.0.1)"
    row "xtask fresh machine, warm S3 cache:" "$(secs "$remote_s")   ${pct}% of cold ($last) (target <= 10 %)   median of $runs, all $ARTIFACTS remote, byte-identical"
    [ -z "$floor_s" ] || row "  the transfer alone (curl, no xtask):" "$(secs "$floor_s")   $(awk -v a="$floor_s" -v b="${cold_s[$last]}" 'BEGIN { printf "%.0f", (b > 0 ? 100 * a / b : 0) }')% of cold ($last): the floor moto_server sets; the xtask adds $(awk -v a="$remote_s" -v b="$floor_s" 'BEGIN { printf "%.3f", a - b }') s"
    cold_cpu=$(cpu_s "$tmp/cold-$last.time")
    remote_cpu=$(cpu_s "$tmp/cache-remote.time")
    echo "  CPU (user + sys, the xtask and its children; a busy machine inflates wall times, not these):" \
      "cold ($last) ${cold_cpu} s, fresh machine with the warm cache ${remote_cpu} s (its last run)" \
      "($(awk -v a="$remote_cpu" -v b="$cold_cpu" 'BEGIN { printf "%.0f", (b > 0 ? 100 * a / b : 0) }')%)"
  fi
  row "xtask no-op (median of $runs):" "$(secs "$noop_med")  (target <= 0.3 s)   peak RSS $noop_rss"
  row "xtask one handler edited (median $runs):" "$(secs "$edit_med")  (target <= 1 s)   $EDIT_MODULE/$EDIT_FUNCTION"
  row "xtask heavy function edited (median):" "$(secs "$heavy_fn_med")  (target <= 0.15 s)   ${heavy_x}x the function without dependencies (target <= 3x)   $HEAVY_FN_MODULE/$HEAVY_FN, $(mb "$heavy_fn_zip") zipped"
  row "xtask function without deps edited:" "$(secs "$light_med")   $LIGHT_FN_MODULE/$LIGHT_FN"
  row "xtask heavy layer edited (median):" "$(secs "$heavy_layer_med")  (target <= 0.2 s)   $HEAVY_LAYER_MODULE/$HEAVY_LAYER, $(mb "$heavy_layer_zip") zipped"
  echo "  light runs: ${light_fn[*]} s; heavy function runs: ${heavy_fn[*]} s; heavy layer runs: ${heavy_layer[*]} s (interleaved)"
  row "xtask rezip all, no installer:" "$(secs "$rezip_s")   CPU $rezip_cpu s ($(awk -v c="$rezip_cpu" -v w="$rezip_s" 'BEGIN { printf "%.1f", (w > 0 ? c / w : 0) }') cores busy)   peak RSS $rezip_rss (target <= 64 MB)"
  row "xtask stack copied, cp -a (median $runs):" "$(secs "$copy_med")  (target <= 0.1 s)   all $ARTIFACTS cached"
  row "xtask every file touched (median $runs):" "$(secs "$touch_med")  (target <= 0.1 s)   all $ARTIFACTS cached"
  echo "  no-op runs: ${noop[*]} s; edit runs: ${edit[*]} s; copy runs: ${copy[*]} s; touch runs: ${touched[*]} s"
  echo "  cold peak RSS is GNU time's maximum over the xtask and the installers it runs; no-op's is the xtask alone"
  echo "zips: baseline $(mb "$baseline_zip_bytes") (with host .pyc), xtask $(mb "$xtask_zip_bytes");" \
    "$same_files as the baseline (ignoring .pyc, installer records and what layers already ship)${identical:+; $identical}"
  echo "bytes shipped (zipped, all $ARTIFACTS zips): baseline $(mb "$baseline_zip_bytes") (the SDK in $baseline_sdk_zips zips);" \
    "xtask $(mb "$xtask_zip_bytes") with runtime-provided packages (runtime_provided = \"keep\", the default)," \
    "$(mb "$drop_zip_bytes") without (\"drop\")"
  echo "  keep: the SDK in $rt_zips zips, $(mb "$rt_bytes") unzipped; layer-aware dedupe left $(mb "$dedupe_bytes")" \
    "unzipped out of $dedupe_zips function zips (packages their attached layer ships in the same version)"
  if [ -n "${cold_s[uv]:-}" ]; then
    uv_cpu=$(cpu_s "$tmp/cold-uv.time")
    pip_cpu=$(cpu_s "$tmp/cold-pip.time")
    echo "cold pip / cold uv: wall $(ratio "${cold_s[pip]}" "${cold_s[uv]}")x ($(secs "${cold_s[pip]}") / $(secs "${cold_s[uv]}")), CPU $(ratio "$pip_cpu" "$uv_cpu")x ($pip_cpu s / $uv_cpu s) (target <= 2x in both)"
  fi
  if [ -n "$sam_s" ]; then
    echo "sam build --parallel (median of $runs, cold): $(secs "$sam_s") wall, $sam_cpu s CPU"
    for inst in uv pip; do
      [ -n "${cold_s[$inst]:-}" ] || continue
      c=$(cpu_s "$tmp/cold-$inst.time")
      echo "  xtask cold ($inst) vs SAM: $(ratio "$sam_s" "${cold_s[$inst]}")x faster in wall time, $(ratio "$sam_cpu" "$c")x less CPU" \
        "(target: uv >= 5x in both, pip >= 2x)"
    done
  fi
  if [ -n "${cold_s[uv]:-}" ]; then
    uv_cpu=$(cpu_s "$tmp/cold-uv.time")
    echo "cold (uv) vs baseline in CPU (user + sys; what load on the machine inflates least):" \
      "$(ratio "$baseline_cpu" "$uv_cpu")x less ($uv_cpu s / $baseline_cpu s)"
  fi
  cold_x=$(ratio "$baseline_s" "${cold_s[$last]}")
  echo "targets: cold >= 4x ($last): $(passfail le 4 "$cold_x") (${cold_x}x)" \
    "  no-op <= 0.3 s: $(passfail le "$noop_med" 0.3) ($(secs "$noop_med"))" \
    "  one edit <= 1 s: $(passfail le "$edit_med" 1) ($(secs "$edit_med"))" \
    "  copy <= 0.1 s: $(passfail le "$copy_med" 0.1) ($(secs "$copy_med"))" \
    "  touch <= 0.1 s: $(passfail le "$touch_med" 0.1) ($(secs "$touch_med"))" \
    "${remote_s:+  warm S3 cache <= 10 % of cold: $(passfail le "$pct" 10) (${pct}%)}"
  rss_n=${rezip_rss% MB}
  echo "issue 18 targets: cold ($last) >= 15x: $(passfail le 15 "$cold_x") (${cold_x}x)" \
    "  no-op <= 0.05 s: $(passfail le "$noop_med" 0.05)" \
    "  heavy function edit <= 0.15 s: $(passfail le "$heavy_fn_med" 0.15)" \
    "  and <= 3x without deps: $(passfail le "$heavy_x" 3) (${heavy_x}x)" \
    "  heavy layer edit <= 0.2 s: $(passfail le "$heavy_layer_med" 0.2)" \
    "  peak RSS rezipping <= 64 MB: $(passfail le "$rss_n" 64)" \
    "${uv_cpu:+  cold pip within 2x of uv: $(passfail le "$(ratio "${cold_s[pip]}" "${cold_s[uv]}")" 2) wall, $(passfail le "$(ratio "$pip_cpu" "$uv_cpu")" 2) CPU}"
}

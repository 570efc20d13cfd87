#!/usr/bin/env bash
# bench-smoke.sh: `cargo xtask smoke` on the benchmark stack (scripts/bench_gen.py: 9 modules,
# 29 functions, 10 layers), cold and cached, against the cold uv build of the same stack.
# A benchmark that prints numbers, not a test: it exits non-zero only when something is broken
# (a failed build, a function that does not pass).
#
# Usage: scripts/bench-smoke.sh [--runs N] [--python PATH] [--xtask BIN] [--keep]
#
#   --runs N       repetitions of the cached run, median reported (default 5)
#   --python PATH  the CPython 3.13 to import with (default: smoke's own discovery, timed apart)
#   --xtask BIN    benchmark this binary instead of building target/debug/xtask
#   --keep         keep the temporary directory (stack, reports)
#
# The generated stack has no infra repo; this adds bench-infra/envs/dev, whose module calls pass
# module-access's org-common layer to every other module (`var.org_common_layer_arn`, as real
# CORA stacks do), so smoke follows each attachment across modules as it would there.
set -euo pipefail

die() { printf 'bench-smoke.sh: error: %s\n' "$*" >&2; exit 1; }
runs=5 python="" xtask="" keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=${2:?--runs needs a number}; shift ;;
    --python) python=${2:?--python needs a path}; shift ;;
    --xtask) xtask=${2:?--xtask needs a path}; shift ;;
    --keep) keep=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
  shift
done
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$xtask" ]; then
  (cd "$root" && cargo build -q -p xtask) || die "cargo build failed"
  xtask="$root/target/debug/xtask"
fi
command -v uv >/dev/null || die "uv is needed (the cold build is measured with it)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-smoke.XXXXXX")
if [ "$keep" = 1 ]; then echo "keeping $tmp" >&2; else trap 'rm -rf "$tmp"' EXIT; fi
python3 "$root/scripts/bench_gen.py" generate "$tmp" >/dev/null
stack="$tmp/bench-stack"
printf '\noutput "org_common_layer_arn" {\n  value = aws_lambda_layer_version.org_common.arn\n}\n' \
  >>"$stack/packages/module-access/infrastructure/outputs.tf"
env="$tmp/bench-infra/envs/dev"
mkdir -p "$env"
for m in "$stack"/packages/module-*; do
  name=$(basename "$m")
  {
    printf 'module "%s" {\n  source = "../../../bench-stack/packages/%s/infrastructure"\n' "${name//-/_}" "$name"
    [ "$name" = module-access ] || printf '  org_common_layer_arn = module.module_access.org_common_layer_arn\n'
    printf '}\n'
  } >>"$env/main.tf"
done
# The generator's code reads well but does not import (names drawn at random, a class on
# `Enum` in a file that drew no `from enum import Enum`). Keep what an import really costs: every
# module gets the generator's whole standard-library import list, and each handler keeps its
# imports of the standard library, the layers' packages and the dependencies, dropping the calls
# into its own generated helpers.
python3 - "$stack" "$root/scripts" <<'PY'
import ast, glob, os, sys
sys.path.insert(0, sys.argv[2])
from bench_gen import STDLIB
header = "".join(s + "\n" for s in STDLIB)
pkgs = os.path.join(sys.argv[1], "packages/*/backend")
for f in glob.glob(pkgs + "/layers/*/python/**/*.py", recursive=True) + glob.glob(pkgs + "/lambdas/*/*.py"):
    text = open(f).read()
    future = "from __future__ import annotations\n"
    head, sep, rest = text.partition(future)
    text = head + sep + header + rest if sep else header + text
    if os.path.basename(f) == "lambda_function.py":
        own = {os.path.splitext(n)[0] for n in os.listdir(os.path.dirname(f))}
        def names(n):
            return {(a.name if isinstance(n, ast.Import) else n.module or "").split(".")[0]
                    for a in (n.names if isinstance(n, ast.Import) else [n])}
        keep = [ast.unparse(n) for n in ast.parse(text).body
                if isinstance(n, (ast.Import, ast.ImportFrom)) and not names(n) & own]
        text = "\n".join(keep) + "\n\n\ndef lambda_handler(event, context):\n    return {}\n"
    open(f, "w").write(text)
PY
[ -z "$python" ] || printf '\n[smoke]\npython = "%s"\n' "$python" >>"$stack/xtask.toml"

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }
x() { "$xtask" "$@" --stack "$stack"; }

export UV_CACHE_DIR="$tmp/uv-cache" NO_COLOR=1
t0=$(now); x build --json >"$tmp/build.json" 2>/dev/null; t1=$(now)
build=$(elapsed "$t0" "$t1")

t0=$(now); x smoke --no-build --json >"$tmp/cold.json" 2>"$tmp/cold.log" || true; t1=$(now)
cold=$(elapsed "$t0" "$t1")
# Every function must be imported (none skipped: each layer followed to its zip); a few of the
# generated dependency wheels use names they never define, so some imports fail part-way.
counts=$(python3 - "$tmp/cold.json" <<'PY'
import json, sys
fs = json.load(open(sys.argv[1]))["functions"]
n = {s: sum(f["status"] == s for f in fs) for s in ("passed", "failed", "skipped")}
print(f"{len(fs)} functions: {n['passed']} passed, {n['failed']} failed (the generated code), {n['skipped']} skipped")
sys.exit(1 if n["skipped"] or len(fs) != 29 else 0)
PY
) || { cat "$tmp/cold.log" >&2; die "smoke skipped functions: $counts"; }

times=() nb=()
for _ in $(seq "$runs"); do
  t0=$(now); x smoke --no-build >/dev/null 2>&1 || true; t1=$(now); nb+=("$(elapsed "$t0" "$t1")")
  t0=$(now); x smoke >/dev/null 2>&1 || true; t1=$(now); times+=("$(elapsed "$t0" "$t1")")
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
printf 'machine: %s cores, %s\n' "$(nproc)" "$("$xtask" --version)"
printf 'cold uv build (29 functions, 10 layers):      %s s\n' "$build"
printf 'smoke cold (no results, no runtime cache):    %s s  (target <= the cold build)  %s\n' "$cold" "$counts"
printf 'smoke cached --no-build (median of %s):        %s s  (target <= 0.05 s)   runs: %s\n' "$runs" "$(median "${nb[@]}")" "${nb[*]}"
printf 'smoke cached, with its no-op build (median):  %s s   runs: %s\n' "$(median "${times[@]}")" "${times[*]}"

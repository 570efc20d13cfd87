#!/usr/bin/env bash
# install.sh — drop the CORA xtask into an existing <project>-stack repository.
#
# Usage: scripts/install.sh [--ci github] [--env ENV] [--promote-env ENV] [--region REGION] STACK_DIR
#
# Copies xtask/ (the crate), and creates what is missing of: a Cargo workspace that includes it,
# the `cargo xtask` alias in .cargo/config.toml, and .gitignore entries for build outputs.
# With --ci github it also writes .github/workflows/xtask.yml (check and plan on pull requests,
# deploy and release on main, a manual promote of a release; ENV defaults to dev, the promote
# env to prd, REGION to us-east-1).
# Existing files are never overwritten: an existing Cargo.toml must list "xtask" itself
# (the script says so). Re-running it updates xtask/ in place (only an xtask/ it installed,
# unchanged: xtask/.installed-by-install.sh records what it put there), and Cargo.lock's
# versions of the xtask's dependencies to the tested ones, printing what changed.
set -euo pipefail

die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }
usage="usage: scripts/install.sh [--ci github] [--env ENV] [--promote-env ENV] [--region REGION] STACK_DIR"

ci="" env=dev promote=prd region=us-east-1 stack=""
while [ $# -gt 0 ]; do
  case $1 in
    --ci) [ "${2:-}" = github ] || die "--ci takes: github"; ci=github; shift 2 ;;
    --env) [ -n "${2:-}" ] || die "$usage"; env=$2; shift 2 ;;
    --promote-env) [ -n "${2:-}" ] || die "$usage"; promote=$2; shift 2 ;;
    --region) [ -n "${2:-}" ] || die "$usage"; region=$2; shift 2 ;;
    -*) die "$usage" ;;
    *) [ -z "$stack" ] || die "$usage"; stack=$1; shift ;;
  esac
done
[ -n "$stack" ] || die "$usage"
[[ $env =~ ^[A-Za-z0-9_-]+$ ]] || die "--env $env: letters, digits, - and _ only"
[[ $promote =~ ^[A-Za-z0-9_-]+$ ]] || die "--promote-env $promote: letters, digits, - and _ only"
[ "$promote" != "$env" ] || die "--promote-env $promote: must differ from --env"
[[ $region =~ ^[a-z0-9-]+$ ]] || die "--region $region is not an AWS region name"
src=$(cd "$(dirname "$0")/.." && pwd)
dest=$(cd "$stack" 2>/dev/null && pwd) || die "$stack is not a directory"
[ -d "$dest/packages" ] || die "$dest has no packages/ directory: is it a CORA <project>-stack repo?"
[ "$src" != "$dest" ] || die "refusing to install into the xtask's own repository"

# What install.sh put in xtask/: "sha256  path" of each file. A re-install replaces xtask/ only
# when it still holds exactly those files, so a team's own files or edits there are never lost.
marker=.installed-by-install.sh
sha256() { if command -v sha256sum >/dev/null; then sha256sum; else shasum -a 256; fi | cut -d' ' -f1; }
# "sha256  path" of every entry under $1 but the marker, sorted; an entry that is not a regular
# file gets no hash, so it never matches an installed one.
hashes() (
  cd "$1" && find . ! -type d ! -path "./$marker" | sed 's|^\./||' | while IFS= read -r f; do
    if [ -f "$f" ] && [ ! -L "$f" ]; then h=$(sha256 <"$f"); else h=not-a-regular-file; fi
    printf '%s  %s\n' "$h" "$f"
  done | LC_ALL=C sort
)
x="$dest/xtask"
if [ -e "$x" ] || [ -L "$x" ]; then
  aside="move it aside (mv $x $x.mine), run install.sh again, then carry your changes over"
  { [ -d "$x" ] && [ ! -L "$x" ]; } || die "$x exists and is not a directory install.sh made; $aside"
  if [ -f "$x/$marker" ]; then
    # Files added or changed since the install (a removed one is simply installed again).
    theirs=$(LC_ALL=C comm -13 <(LC_ALL=C sort "$x/$marker") <(hashes "$x") | cut -c67- | LC_ALL=C sort)
    [ -z "$theirs" ] || die "$x holds files install.sh did not install or that changed since:
$(printf '%s\n' "$theirs" | sed 's/^/  /')
a re-install would delete them; $aside"
  elif grep -q XTASK_SOURCE_HASH "$x/build.rs" 2>/dev/null \
    && grep -q '^name = "xtask"' "$x/Cargo.toml" 2>/dev/null \
    && [ -z "$(cd "$x" && find . ! -type d ! -path ./Cargo.toml ! -path ./build.rs ! -path './src/*')" ]; then
    # Installed by an install.sh older than the marker: the crate's own files and nothing else.
    :
  else
    die "$x exists and was not installed by install.sh (no xtask/$marker); $aside"
  fi
fi

new=$(mktemp -d "$dest/.xtask.new.XXXXXX")
trap 'rm -rf "$new"' EXIT
cp -R "$src/xtask/Cargo.toml" "$src/xtask/build.rs" "$src/xtask/src" "$new/"
hashes "$new" >"$new/$marker"
chmod "$(printf '%o' $((0777 & ~$(umask))))" "$new"   # mktemp made it 0700
rm -rf "$x"
mv "$new" "$x"
echo "installed $x"

if [ ! -f "$dest/Cargo.toml" ]; then
  # The profiles are the xtask repository's own: what it is measured and tested with.
  # A stack repo compiles the xtask and does not develop it: no incremental cache for it, which
  # costs ~1.8 s of its ~12 s first compile and ~115 MB in every CI cache of target/.
  # (CARGO_INCREMENTAL=1 turns it back on for whoever edits the xtask there.)
  { printf '[workspace]\nmembers = ["xtask"]\nresolver = "2"\n\n'; sed -n '/^\[profile/,$p' "$src/Cargo.toml"
    printf '\n[profile.dev.package.xtask]\nincremental = false\n'; } >"$dest/Cargo.toml"
  echo "created $dest/Cargo.toml"
elif ! grep -q '"xtask"' "$dest/Cargo.toml"; then
  echo "note: $dest/Cargo.toml exists; add \"xtask\" to its [workspace] members" >&2
fi

# "name versions" per package name of a Cargo.lock (several versions comma-joined), sorted.
lock_versions() {
  awk '/^name = /{n=$3; gsub(/"/,"",n)} /^version = /{v=$3; gsub(/"/,"",v); if (n in vs) v=vs[n] "," v; vs[n]=v}
       END {for (n in vs) print n, vs[n]}' "$1" | LC_ALL=C sort
}

# The lock file pins the versions this xtask is tested with (cargo prunes what it does not use).
if [ ! -f "$dest/Cargo.lock" ]; then
  cp "$src/Cargo.lock" "$dest/Cargo.lock"
  echo "created $dest/Cargo.lock"
else
  # Versions the tested lock has and the stack's lock has differently, or lacks.
  changes=$(LC_ALL=C join -a1 <(lock_versions "$src/Cargo.lock") <(lock_versions "$dest/Cargo.lock") \
    | awk '$1 != "xtask" && $1 != "spec" && $2 != $3 { print "  " $1 " " ($3 == "" ? "(new)" : $3) " → " $2 }')
  if [ -z "$changes" ]; then
    echo "Cargo.lock already has the tested versions"
  elif grep -Eq '^members = \["xtask"\]$' "$dest/Cargo.toml"; then
    # The workspace is the xtask alone: the tested lock is the whole answer.
    cp "$src/Cargo.lock" "$dest/Cargo.lock"
    printf 'updated %s to the tested versions:\n%s\n' "$dest/Cargo.lock" "$changes"
  else
    printf 'note: %s is shared with other workspace members; the xtask is tested with:\n%s\n' \
      "$dest/Cargo.lock" "$changes" >&2
    echo "note: run  cargo update -p NAME --precise VERSION  for those you want" >&2
  fi
fi

mkdir -p "$dest/.cargo"
if [ ! -f "$dest/.cargo/config.toml" ]; then
  printf '[alias]\nxtask = "run --package xtask --"\n' >"$dest/.cargo/config.toml"
  echo "created $dest/.cargo/config.toml"
elif ! grep -q '^xtask *=' "$dest/.cargo/config.toml"; then
  echo "note: add  xtask = \"run --package xtask --\"  under [alias] in $dest/.cargo/config.toml" >&2
fi

touch "$dest/.gitignore"
for pattern in /target .xtask/ .build/; do
  grep -qxF "$pattern" "$dest/.gitignore" || { echo "$pattern" >>"$dest/.gitignore"; echo "ignored $pattern"; }
done

if [ "$ci" = github ]; then
  workflow="$dest/.github/workflows/xtask.yml"
  name=$(basename "$dest")
  infra="${name%-stack}-infra"
  if [ -f "$workflow" ]; then
    echo "note: $workflow exists; left as it is" >&2
  else
    mkdir -p "$(dirname "$workflow")"
    sed -e "s/__STACK__/$name/g" -e "s/__INFRA__/$infra/g" -e "s/__ENV__/$env/g" -e "s/__PROMOTE__/$promote/g" \
      -e "s/__REGION__/$region/g" "$src/scripts/ci/github-xtask.yml" >"$workflow"
    echo "created $workflow (checks out $infra beside $name; set AWS_PLAN_ROLE_ARN (read-only, pull requests)"
    echo "  AWS_DEPLOY_ROLE_ARN (main) and AWS_PROMOTE_ROLE_ARN (promote to $promote) as secrets,"
    echo "  and protect the environments $env and $promote)"
  fi
fi

echo "done: run  cargo xtask build  in $dest"

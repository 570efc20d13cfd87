#!/usr/bin/env bash
# install.sh — drop the CORA xtask into an existing <project>-stack repository.
#
# Usage: scripts/install.sh STACK_DIR
#
# Copies xtask/ (the crate), and creates what is missing of: a Cargo workspace that includes it,
# the `cargo xtask` alias in .cargo/config.toml, and .gitignore entries for build outputs.
# Existing files are never overwritten: an existing Cargo.toml must list "xtask" itself
# (the script says so). Re-running it updates xtask/ in place.
set -euo pipefail

die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: scripts/install.sh STACK_DIR"
src=$(cd "$(dirname "$0")/.." && pwd)
dest=$(cd "$1" 2>/dev/null && pwd) || die "$1 is not a directory"
[ -d "$dest/packages" ] || die "$dest has no packages/ directory: is it a CORA <project>-stack repo?"
[ "$src" != "$dest" ] || die "refusing to install into the xtask's own repository"

rm -rf "$dest/xtask.new"
mkdir -p "$dest/xtask.new"
cp -R "$src/xtask/Cargo.toml" "$src/xtask/src" "$dest/xtask.new/"
rm -rf "$dest/xtask"
mv "$dest/xtask.new" "$dest/xtask"
echo "installed $dest/xtask"

if [ ! -f "$dest/Cargo.toml" ]; then
  cat >"$dest/Cargo.toml" <<'EOF'
[workspace]
members = ["xtask"]
resolver = "2"

[profile.dev]
# The xtask runs real builds; its own speed matters more than debug info.
opt-level = 1
debug = 0

[profile.dev.package."*"]
opt-level = 2
EOF
  echo "created $dest/Cargo.toml"
elif ! grep -q '"xtask"' "$dest/Cargo.toml"; then
  echo "note: $dest/Cargo.toml exists; add \"xtask\" to its [workspace] members" >&2
fi

# The lock file pins the versions this xtask is tested with (cargo prunes what it does not use).
if [ ! -f "$dest/Cargo.lock" ]; then
  cp "$src/Cargo.lock" "$dest/Cargo.lock"
  echo "created $dest/Cargo.lock"
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

echo "done: run  cargo xtask build  in $dest"

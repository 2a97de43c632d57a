#!/usr/bin/env bash
# Packages the VS Code extension (editors/vscode) as a .vsix, reproducibly:
#   scripts/package_vscode.sh [--reuse-modules] [OUT.vsix]   (default: editors/vscode/brief-lang-<version>.vsix)
# --reuse-modules: keep node_modules when npm installed it from this very lockfile (the tests, which
# have just installed it), instead of installing again.
# `npm ci` installs exactly what package-lock.json pins (vsce included), then vsce packages the
# extension with its production dependencies (vscode-languageclient and what it needs: vsce takes
# them from `npm list --production`; no bundler, so what ships is what npm installed). The zip's
# entries are sorted and dated SOURCE_DATE_EPOCH (vsce does both when that variable is set), so the
# same sources and lockfile give the same file, byte for byte.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ext="$here/editors/vscode"

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "package_vscode.sh: $tool is not on PATH (install Node.js 20 or newer)" >&2; exit 2; }
done

reuse=0
if [[ "${1:-}" == "--reuse-modules" ]]; then
  reuse=1
  shift
fi

version="$(node -p "require('$ext/package.json').version")"
if [[ $# -ge 1 ]]; then
  out="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
else
  out="$ext/brief-lang-$version.vsix"
fi

export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-315532800}"  # 1980-01-01, the earliest a zip can hold
export TZ=UTC  # zip times are local times: pin the zone so the bytes do not depend on the machine

cd "$ext"
if [[ $reuse == 1 && -f node_modules/.package-lock.json && node_modules/.package-lock.json -nt package-lock.json ]]; then
  echo "package_vscode.sh: reusing node_modules installed from package-lock.json" >&2
else
  npm ci --no-audit --no-fund --loglevel=error
fi
npx --no-install vsce package --out "$out" </dev/null
echo "$out"

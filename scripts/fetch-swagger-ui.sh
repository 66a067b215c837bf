#!/usr/bin/env bash
# Fetches Swagger UI (OpenAPI 3.1 capable) from the npm registry into devstack/swagger-ui/, so the local stack's
# /docs works with no internet at run time. Pinned; skipped (docs then load Swagger UI from its CDN) without npm.
set -euo pipefail
VERSION=5.35.0
dest="$(cd "$(dirname "$0")/.." && pwd)/devstack/swagger-ui"
if [[ -f "$dest/.version" && "$(cat "$dest/.version")" == "$VERSION" ]]; then exit 0; fi
if ! command -v npm >/dev/null; then
  echo "fetch-swagger-ui: npm not found; /docs will load Swagger UI from its CDN" >&2
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "swagger-ui-dist@$VERSION" >/dev/null 2>&1 && tar -xzf swagger-ui-dist-*.tgz) || {
  echo "fetch-swagger-ui: could not fetch swagger-ui-dist@$VERSION; /docs will use the CDN" >&2
  exit 0
}
mkdir -p "$dest"
cp "$tmp/package/swagger-ui-bundle.js" "$tmp/package/swagger-ui.css" "$tmp/package/favicon-32x32.png" "$dest/"
echo "$VERSION" > "$dest/.version"

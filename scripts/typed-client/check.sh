#!/usr/bin/env bash
# Generates TypeScript types from docs/openapi.json (openapi-typescript) into a temporary directory
# and type-checks flows.ts against them with openapi-fetch, under strict. CI step "typed client".
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npx openapi-typescript ${DOC:-docs/openapi.json} -o "$tmp/api.d.ts" >/dev/null
here=$(pwd)/scripts/typed-client
cat > "$tmp/tsconfig.json" <<JSON
{
  "extends": "$here/tsconfig.json",
  "compilerOptions": { "paths": { "conveyor-api": ["$tmp/api.d.ts"] }, "typeRoots": ["$here/../../node_modules/@types"] },
  "files": ["$here/flows.ts"]
}
JSON
npx tsc --noEmit -p "$tmp/tsconfig.json"
echo "typed client: flows.ts type-checks against the generated types"

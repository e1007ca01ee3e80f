#!/usr/bin/env bash
# The packages as a user gets them: builds and packs every published package, installs the tarballs with plain npm
# into a throwaway project outside the workspace, type-checks a program against them under strict user settings
# (NodeNext and Bundler resolution), then runs the compiled program with plain node on Node 20 and on Node 22.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PNPM="npx -y pnpm@10.34.8"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cd "$root"
$PNPM build
mkdir -p "$work/tarballs" "$work/app"
for name in core dynamodb sqs testkit; do
  (cd "packages/$name" && $PNPM pack --pack-destination "$work/tarballs" >/dev/null)
done
cp scripts/consumer/app.ts scripts/consumer/tsconfig.*.json "$work/app/"

cd "$work/app"
tarball() { ls "$work/tarballs"/aws-resilience-"$1"-*.tgz; }
effect=$(node -p "require('$root/packages/core/package.json').devDependencies.effect")
platform=$(node -p "require('$root/packages/testkit/package.json').devDependencies['@effect/platform']")
typescript=$(node -p "require('$root/package.json').devDependencies.typescript")
cat > package.json <<JSON
{
  "name": "consumer",
  "private": true,
  "type": "module",
  "dependencies": {
    "@aws-resilience/core": "file:$(tarball core)",
    "@aws-resilience/dynamodb": "file:$(tarball dynamodb)",
    "@aws-resilience/sqs": "file:$(tarball sqs)",
    "@aws-resilience/testkit": "file:$(tarball testkit)",
    "effect": "$effect",
    "@effect/platform": "$platform"
  },
  "devDependencies": { "typescript": "$typescript", "@types/node": "^20.19.0" },
  "overrides": { "@aws-resilience/core": "file:$(tarball core)" }
}
JSON
npm install --no-audit --no-fund --loglevel=error
# No workspace link: every package comes from its tarball.
for name in core dynamodb sqs testkit; do
  [ -L "node_modules/@aws-resilience/$name" ] && { echo "@aws-resilience/$name is a link" >&2; exit 1; }
  [ -f "node_modules/@aws-resilience/$name/dist/esm/index.js" ] || { echo "@aws-resilience/$name has no build" >&2; exit 1; }
done
npx tsc -p tsconfig.bundler.json
npx tsc -p tsconfig.nodenext.json
node out/nodenext/app.js
npx -y node@22 out/nodenext/app.js
echo "consumer test passed"

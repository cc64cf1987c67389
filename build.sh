#!/usr/bin/env bash
# The one entry point: ./build.sh <target>
#   demo    build everything and start the relay with embedded defaults
#   test    install what is missing and run every test; ends with "N passed, N failed"
#   bench   run the benchmarks and write their reports to docs/benchmarks/
#   wasm    check the client core compiles to WebAssembly
#   relay   build bin/parley-relay
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

need_go() {
  command -v go >/dev/null || { echo "build.sh: Go is required (https://go.dev/dl/); not found on PATH" >&2; exit 1; }
  go mod download
}

build_relay() {
  need_go
  mkdir -p bin
  go build -trimpath -o bin/parley-relay ./relay/cmd/parley-relay
  go build -trimpath -o bin/parley-bench ./relay/cmd/parley-bench 2>/dev/null || true
}

# Fuzz targets run briefly in the test target; the corpus under testdata/fuzz
# always runs as plain tests too.
FUZZTIME=${FUZZTIME:-4s}
fuzz_targets() {
  for pkg in $(go list ./...); do
    dir=$(go list -f '{{.Dir}}' "$pkg")
    { grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null || true; } | sed 's/^func //' | while read -r f; do
      echo "$pkg $f"
    done
  done
}

cmd_test() {
  need_go
  mkdir -p artifacts
  say "go vet"
  go vet ./...
  say "go test (unit, fuzz corpus, relay process suites)"
  go build -o bin/testreport ./internal/testreport
  {
    go test -json -count=1 -race -timeout 15m ./... || true
    fuzz_targets | while read -r pkg f; do
      go test -json -run '^$' -fuzz "^${f}\$" -fuzztime "$FUZZTIME" "$pkg" || true
    done
  } 2>&1 | tee artifacts/go-test.json | bin/testreport
}

cmd_demo() {
  build_relay
  args=(serve)
  # The demo signs people in through the relay's clearly marked dev endpoint;
  # a real deployment mints tokens in its own app server instead.
  if [ -d examples/web-chat/dist ]; then args+=(--static examples/web-chat/dist --dev-tokens); fi
  say "relay on http://${PARLEY_ADDR:-127.0.0.1:8787} (data in ${PARLEY_DATA:-./parley-data}); Ctrl-C stops it"
  cat >&2 <<'TXT'
    Chat from two terminals with the Go example client:
      go run ./examples/go-chat --user alice --to bob
      go run ./examples/go-chat --user bob --to alice
TXT
  exec bin/parley-relay "${args[@]}"
}

cmd_bench() {
  build_relay
  mkdir -p docs/benchmarks
  bin/parley-bench "$@"
}

cmd_wasm() {
  need_go
  say "compiling proto and the client core for js/wasm"
  GOOS=js GOARCH=wasm go build ./proto ./sdk-wasm/core
  echo "the client core compiles to js/wasm; the browser entry point and parley.wasm come with the npm package"
}

case "${1:-}" in
  test) shift; cmd_test "$@" ;;
  demo) shift; cmd_demo "$@" ;;
  bench) shift; cmd_bench "$@" ;;
  wasm) shift; cmd_wasm "$@" ;;
  relay) shift; build_relay ;;
  *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

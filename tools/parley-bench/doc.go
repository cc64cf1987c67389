// Command parley-bench is the relay's load benchmark. It starts a built
// parley-relay binary as a child process on a free 127.0.0.1 port with its
// data in a fresh temp dir, drives it, and writes a report:
//
//	parley-bench [--relay bin/parley-relay] [--scenario all] [--runs 3] [--out docs/benchmarks] [--quick]
//	parley-bench charts docs/benchmarks    redraw the charts from results.json, measuring nothing
//
// Scenarios (--scenario takes a comma-separated list; all runs them in this
// order, then the knee sweeps and the profile):
//
//	latency     --pairs (50) fixed pairs of native clients chat p2p at a
//	            moderate offered rate (--rate, default 1000 msg/s): the
//	            latency a user feels, against its budget (p50 ≤ 5 ms, p99 ≤
//	            25 ms).
//	group       group fan-out: --rooms (100) groups of --members (10) users,
//	            every member sending, 5000 msg/s offered by default (45,000
//	            deliveries/s), against the fan-out target (50,000
//	            deliveries/s at p99 ≤ 25 ms on one relay core).
//	p2p         --users (1000) users chatting in random pairs: each has
//	            about --contacts (4) p2p conversations and sends each message
//	            into one of them, picked at random; 1000 msg/s by default.
//	room        one room as large as the protocol allows (--room-members,
//	            proto.MaxGroupMembers = 1000), --room-talkers (4) of them
//	            sending 10 msg/s in all by default: every send fans out to
//	            999 members at once.
//	sync        a device that was offline catches up --sync-messages (10,000)
//	            messages spread over --sync-convs (20) conversations: time to
//	            caught up and messages/s.
//	throughput  pairs of native clients send as fast as their send window
//	            lets them: acks per second, relay CPU per message, commit
//	            batch sizes.
//	idle        raw WebSockets that say Hello and then stay silent: connect
//	            rate, relay RSS, Go heap and goroutines per connection, for
//	            each count in --conns (default 10000; all sweeps
//	            1000,2500,5000,10000,max, where max is as many as the relay's
//	            descriptor limit allows, and says which limit stopped it).
//	            The connections are held by worker processes (parley-bench
//	            re-executed, at most 15,000 connections each) dialling from
//	            source addresses spread over 127.1.0.0/16, so neither the
//	            generator's descriptor limit nor one address's ephemeral ports
//	            bound the count.
//
//	fanout      the relay throughput issue's fan-out: --rooms × --members
//	            (100 × 10) every member sending, at each of --fan-rates
//	            (2000,5000,10000,20000 msg/s): deliveries/s, p99 send →
//	            delivered, relay CPU µs per delivery.
//	p2p2k       --p2p-users (2000) users in random pairs at each of
//	            --p2p-rates (2000,10000 msg/s), no warm-up: the first message
//	            of a pair, which creates the conversation, is measured too.
//	overload    the fan-out offered at 4 × the knee of this report's fanout
//	            rates (or 4 × --knee): goodput, the p99 of what was admitted
//	            (from the attempt the relay admitted, with the p99 from the
//	            first send beside it), refusals and closes by code.
//
// fanout, p2p2k and overload use the wire generator (wireworker.go): bare
// WebSocket clients in --procs (2) worker processes pinned with the bench to
// the generator's core, reading every frame with the proto peeks rather than
// decoding it; each run reports the generator's CPU on its core. A talker
// refused with 4301 holds its new messages for the retry hint and resends
// the refused ones oldest first, as the SDK's outbox does; a message's text
// carries its first send time and its attempt's, and send → delivered is
// reported from both: from the attempt the relay admitted, and from the
// first send (refusals, waits and resends included). A worker's
// clients are bare sockets after their opening handshake (internal/ws), read
// by one epoll loop per worker, many frames per read(2). With the
// environment variable PARLEY_BENCH_GEN_CPUPROFILE=<prefix> every worker
// writes a CPU profile of its measured window to <prefix>.<pid>.pprof
// (go tool pprof <parley-bench binary> <file>).
//
// latency, group, p2p and room share one open loop: every talking client
// sends on its own ticker, first sends staggered over one interval, for
// --duration (5 s) after a 1 s warm-up whose samples are discarded. Each
// reports offered, sent, achieved (acked) and delivered rates, send →
// delivered p50/p95/p99/max measured at every receiver from the send time in
// the text, ack latency, loss and duplicates (both must be 0), relay CPU per
// 1,000 deliveries, relay RSS, the relay's write(2) calls per frame, and the
// CPU the generator and the rest of the machine used meanwhile.
//
// --sweep (on with all) steps the offered rate of latency, group and p2p up a
// ladder (--sweep-rates) until p99 passes --p99-max (25 ms), a delivery is
// lost, or the generator saturates (CPU ≥ 90 % or sends below 95 % of the
// offered rate: "generator-bound", not a relay knee), then halves the gap to
// the last passing rate; the knee is the highest rate that passed. A rate
// measured on a busy machine is measured again.
//
// --profile (on with all) runs the group scenario once more for
// --profile-duration (20 s) with the relay's --pprof on, keeps its CPU and
// allocation profiles in <out>/profiles and lists the top functions in the
// report. With the sweeps and an idle --conns sweep, the report also draws
// <out>/latency-vs-rate.svg and <out>/memory-vs-connections.svg.
//
// Every run gets a fresh relay, so runs do not inherit each other's heap or
// database. Each scenario runs --runs times and reports the median and the
// range. Where taskset exists and two CPUs are available, the relay runs on
// CPU 0 and the generator on CPU 1, so they do not steal each other's time.
// Every run records the CPU other processes used meanwhile and a CPU check (a
// fixed SHA-256 task timed on the generator's core): on a shared virtual
// machine, either shows a busy host.
//
// --quick is a smoke test: one run each, 2 s windows, 1,000 idle connections
// (1000,max with all), a coarse sweep ladder and no profile (flags given
// explicitly win).
//
// Knobs beyond the sizes: --window (sends in flight per client, default 16),
// --pin=false, --relay-gomaxprocs N (the relay picks 1 when pinned to one
// CPU), --relay-flags "--synchronous NORMAL" (passed to serve).
//
// The bench builds nothing, talks only to loopback addresses and is bounded:
// a fixed number of runs, each with its own deadline, all within --timeout.
package main

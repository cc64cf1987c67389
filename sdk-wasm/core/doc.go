// Package core is Parley's sans-IO client: the whole protocol of a device —
// connecting, the persistent outbox, ordering and gap filling, sync, read
// cursors, events — as a state machine that does no I/O.
//
// # Inputs and outputs
//
// A driver (sdk-wasm/client, natively and under js/wasm) feeds the Core
// inputs, each with the current time:
//
//	Start · Reconnect · Close                     lifecycle
//	HandleOpen · HandleFrame · HandleClosed       one connection's events
//	HandleTimeout                                 the one timer fired
//	HandleToken                                   the fresh token ActFetchToken asked for
//	Send · Resend · Discard · MarkRead · CreateGroup · FetchHistory
//
// and then drains the outputs with Poll, executing each Action in order:
//
//	ActDial       open a connection, then report HandleOpen or HandleClosed
//	ActWrite      write one binary frame on a connection
//	ActCloseConn  close a connection with a code
//	ActPersist    apply a Batch to the store
//	ActEvent      hand an Event to the application
//	ActResolve    complete an operation with its Result
//	ActFetchToken fetch a fresh token, then report HandleToken (TokenRefresh only)
//
// Finally it arms one timer at NextDeadline. The Core never reads the clock,
// starts no goroutine and draws every random number (backoff jitter, client
// message ids) from Config.Rand, so a test with a seeded source and a
// scripted clock replays a session identically.
//
// # Persist first
//
// Everything one input changed in the store leaves as ONE ActPersist, placed
// before every other action of that input. A driver applies it before it
// executes anything after it. So nothing is written to the relay, announced
// to the application or resolved before what it depends on is stored: a
// message is in the outbox before its send frame leaves, and in the cache
// before its event fires. A crash between two actions loses at most what
// the relay still holds.
//
// # States
//
// The connection state the application sees (State). Underneath, each
// connection goes through dialing, hello (Hello written) and ready
// (welcomed); the state is connected exactly while a connection is ready.
//
//	        Start                      welcome
//	idle ─────────► connecting ───────────────────► connected
//	                    │                            ▲     │
//	    lost, retryable │                    welcome │     │ lost, retryable
//	                    ▼                            │     ▼
//	               reconnecting ─────────────────────┴─────┘
//	               (after each loss: a full-jitter backoff, then a new dial)
//
//	connecting, connected, reconnecting ── terminal close (4001, 4003, …;
//	    4002 unless the driver refreshes tokens) or MaxAttempts reached ──► disconnected
//	disconnected ── Start or Reconnect ──► connecting or reconnecting
//	any state ── Close ──► closed (final; the outbox stays in the store)
//
// # Concurrency
//
// A Core is not safe for concurrent use: its driver calls it from one
// goroutine at a time (sdk-wasm/client runs one loop goroutine per client).
// The values it returns (Conversations, Pending, events, results) are
// copies the caller may keep.
package core

// Package relay is Parley's relay server: it terminates client WebSockets,
// authenticates them by token, stores messages durably with a sequence per
// conversation, and fans them out to every connected device of every member.
// The binary is cmd/parley-relay; the package is usable in-process too:
//
//	srv, err := relay.New(relay.Options{Data: dir})
//	go srv.Serve(ln)            // or mount srv.Handler()
//	defer srv.Shutdown(ctx)
//
// # Shape
//
// Decisions — which frame is acceptable when, who may read or write a
// conversation, how fast a connection may send, how cursors move, how a
// page is cut — are pure functions in package rules. Around them:
//
//	session.go          a connection's protocol logic (Session), written against
//	                    a Transport: hello and token, deadlines, rate limit,
//	                    requests and replies, close codes; it holds no socket
//	ws_notjs.go         the WebSocket edge, one Transport: accept, read loop,
//	                    bounded send queue, writer, coalescer, graceful close
//	commit.go           the group committer and the completion of a send: the
//	                    ack to the sender, one Deliver through the bus
//	admission.go        bounded work in flight: a send with no room is refused
//	                    at the door (4301 busy, rules.AdmitLoad, rules.Shed)
//	metrics.go          the Prometheus registry of the server (/metrics)
//	hub.go, bus*.go     local sessions by user; fan-out between relay nodes
//	store*.go           storage (SQLite, PostgreSQL, memory), calling the
//	                    rules inside their transactions; RemoteStore and
//	                    StoreServer carry a store's calls as bytes to the one
//	                    place that holds it (store_remote*.go)
//	server.go           Server: New, Handler, AdminHandler, Serve, Open, Shutdown
//	listener.go         connections counted and capped, in all and per address;
//	                    rate-limited warnings
//	users.go            what a user's sessions on a node share: their count
//	                    and their frame and byte rates
//
// Another runtime can carry connections with a Transport of its own:
// Server.Open returns the Session it feeds with Receive and ends with Gone.
// Under js/wasm the package builds without the WebSocket edge, SQLite,
// PostgreSQL and NATS (their files are !js): the host brings the
// connections and passes Options.Store.
//
// # Guarantees
//
// A Send is acknowledged only after its transaction committed; (sender,
// client id) is unique in the store, so a retry gets the original ack;
// sequence numbers are assigned inside the store's transaction, strictly
// increasing and contiguous per conversation; a message writes O(1) rows
// whatever the group size, and Sync lists what changed after a cursor by
// change positions handed out in commit order, so a cursor never skips a
// change (docs/architecture.md, "The store").
//
// # Concurrency contract
//
// An idle WebSocket has one goroutine, its reader: the HTTP handler returns
// right after the upgrade (releasing net/http's buffers and stack) and the
// connection runs on a fresh goroutine that only reads. Each message read is
// handed to Session.Receive on a short-lived goroutine the reader waits for —
// decoding, token checks and the session's reads and small writes (Sync,
// History, Read, CreateGroup) need deep stacks the reader should not keep
// while idle. A writer goroutine drains the bounded send queue and exists
// only while there is something to write. Sends are not run by either: the
// session admits them against the relay's bounds (admission.go; the excess
// is refused at once, never queued) and hands them, in read order, to the
// one committer goroutine
// (commit.go), which commits whatever is waiting as one transaction and
// completes each send in order — the ack to its session, then one Deliver,
// encoded once, published on the Bus. The Bus hands it to each node's hub,
// which writes the same bytes to every recipient session. Nothing outside a
// session's reader ever blocks on it: a Transport's Write never waits (a
// full queue closes the session with 4102), and Close only signals the
// writer, which sends Close{code} and then closes the WebSocket with the
// same code. The one wait is the reader's own: while half its queue is taken
// it reads no further, so a client that pipelines requests without reading
// the replies is slowed, not cut, and the other half stays free for acks and
// fan-out.
//
// Store implementations must be safe for concurrent use: Append is called
// by the committer and, for call records, by calls.go (a batch of the
// records of the calls that ended at once), the other methods from many
// readers at once; the small writes that many sessions make at once go a
// batch per store call (batch.go).
// A Bus delivers the envelopes of one publisher in order; the hub's deliver
// function, which it calls, never blocks.
package relay

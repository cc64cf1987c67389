package relay

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// metrics are one server's Prometheus series, in a registry of its own so
// that several servers in one process (tests, a host embedding two relays)
// never collide. Every series is listed, with its meaning, in
// docs/deployment.md ("Metrics"), and docs/grafana/parley-relay.json charts
// them.
//
// The hottest counters are plain atomics, exposed through CounterFunc and
// GaugeFunc: an increment costs one atomic add, and tests read them
// directly. Latencies are client_golang histograms.
type metrics struct {
	reg *prometheus.Registry

	connections atomic.Int64
	framesIn    atomic.Uint64
	framesOut   atomic.Uint64
	stored      atomic.Uint64
	dedup       atomic.Uint64
	busLost     atomic.Uint64
	busErrors   atomic.Uint64
	// acceptErrors counts failed accepts (EMFILE and the like).
	acceptErrors atomic.Uint64
	limits       *prometheus.CounterVec // refusals by a limit: see limitHit
	// busRejected reads the bus's count of envelopes dropped for a bad
	// signature; nil for a bus that does not sign. Set before the first
	// scrape.
	busRejected func() uint64
	// busDropped reads the bus's count of envelopes it accepted and then
	// dropped; nil for a bus that never does. Set before the first scrape.
	busDropped func() uint64
	renewals   atomic.Uint64
	banned     atomic.Uint64 // hellos refused because the user is banned

	closes     *prometheus.CounterVec // relay-initiated closes, by close code
	peerCloses *prometheus.CounterVec // connections the client or the network ended, by WebSocket status

	batchSize     histogram // sends per store transaction
	ackLatency    histogram // send read → ack queued
	admitLatency  histogram // message read → frame admitted (size, rate, decode)
	commitLatency histogram // one store transaction of the committer
	fanoutLatency histogram // one committed message handed to the bus
	requests      *prometheus.HistogramVec
}

// histogram is a Prometheus histogram; observe records one value.
type histogram struct{ h prometheus.Histogram }

func (h histogram) observe(v float64) { h.h.Observe(v) }

// latencyBuckets suit the relay's latencies, from a fast admit (microseconds)
// to an overloaded commit (seconds).
var latencyBuckets = []float64{
	.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5,
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.gaugeFunc("parley_connections", "Open WebSocket connections.", func() float64 { return float64(m.connections.Load()) })
	m.counterFunc("parley_frames_in_total", "Frames read from clients.", &m.framesIn)
	m.counterFunc("parley_frames_out_total", "Frames written to clients.", &m.framesOut)
	m.counterFunc("parley_messages_stored_total", "Messages committed to the store.", &m.stored)
	m.counterFunc("parley_send_dedup_total", "Sends answered with the original ack of a duplicate.", &m.dedup)
	m.counterFunc("parley_bus_lost_total", "Times the bus may have dropped pushes and every session was told to resync.", &m.busLost)
	m.counterFunc("parley_bus_publish_errors_total", "Fan-outs the bus refused (the message is stored; clients catch up by sync).", &m.busErrors)

	m.closes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_closes_total", Help: "Connections closed by the relay, by close code.",
	}, []string{"code"})
	m.peerCloses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_peer_closes_total", Help: "Connections the client or the network ended, by WebSocket close status (1006: no Close frame).",
	}, []string{"code"})
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "parley_bus_rejected_total", Help: "Bus envelopes dropped because they were unsigned or badly signed (0 without a bus key).",
	}, func() float64 {
		if m.busRejected == nil {
			return 0
		}
		return float64(m.busRejected())
	}))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "parley_bus_dropped_total", Help: "Bus envelopes accepted and then dropped, a shard unreachable or too far behind; that shard's sessions resync (0 but on a sharded relay).",
	}, func() float64 {
		if m.busDropped == nil {
			return 0
		}
		return float64(m.busDropped())
	}))
	m.counterFunc("parley_token_renewals_total", "Sessions that renewed their token in-band.", &m.renewals)
	m.counterFunc("parley_hello_banned_total", "Hellos refused with 4004 because the user is banned.", &m.banned)
	m.counterFunc("parley_accept_errors_total", "Failed accepts on the listener (such as running out of file descriptors).", &m.acceptErrors)
	m.limits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_limit_refused_total", Help: "Connections, sessions and frames refused by a limit, by limit.",
	}, []string{"limit"})
	for _, l := range []string{limitConns, limitConnsPerIP, limitSessionsOfUser, limitUserFrames, limitUserBytes, limitConnFrames, limitControlSize, limitQueueBytes} {
		m.limits.WithLabelValues(l)
	}
	m.reg.MustRegister(m.closes, m.peerCloses, m.limits)
	// Every known close code starts at 0, so that the first close of a kind
	// is an increase a rate() sees, not a series appearing.
	for _, c := range proto.Codes() {
		if c < 4200 {
			m.closes.WithLabelValues(strconv.Itoa(int(c)))
		}
	}
	for _, status := range []int{1000, 1001, 1006} {
		m.peerCloses.WithLabelValues(strconv.Itoa(status))
	}

	m.batchSize = m.histogram("parley_commit_batch_size", "Sends committed per store transaction.",
		[]float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512})
	m.ackLatency = m.histogram("parley_ack_latency_seconds", "Time from reading a send to enqueueing its ack (after commit).",
		[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5})
	m.admitLatency = m.histogram("parley_frame_admit_seconds", "Time to admit one message read from a client: size, rate limit, decode.", latencyBuckets)
	m.commitLatency = m.histogram("parley_store_commit_seconds", "Time of one committer transaction in the store.", latencyBuckets)
	m.fanoutLatency = m.histogram("parley_fanout_seconds", "Time to hand one committed message to the bus (with the in-process bus: to queue it on every local recipient).", latencyBuckets)
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "parley_request_seconds", Help: "Time a session spends serving one request, by frame: a send until the committer took it, a query until its reply is queued.", Buckets: latencyBuckets,
	}, []string{"frame"})
	m.reg.MustRegister(m.requests)
	return m
}

// counterFunc registers a counter read from v.
func (m *metrics) counterFunc(name, help string, v *atomic.Uint64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) }))
}

// gaugeFunc registers a gauge computed by f at every scrape.
func (m *metrics) gaugeFunc(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// counter registers and returns a counter.
func (m *metrics) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	m.reg.MustRegister(c)
	return c
}

// histogram registers and returns a histogram.
func (m *metrics) histogram(name, help string, buckets []float64) histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	m.reg.MustRegister(h)
	return histogram{h}
}

// request records how long a session served one request of frame type t.
func (m *metrics) request(t proto.Type, began time.Time) {
	m.requests.WithLabelValues(t.String()).Observe(since(began))
}

// closed counts a close initiated by the relay.
func (m *metrics) closed(code proto.Code) {
	m.closes.WithLabelValues(strconv.Itoa(int(code))).Inc()
}

// peerClosed counts a connection the client or the network ended; status is
// the WebSocket close status it sent, or -1 when it sent none (counted as
// 1006, RFC 6455 §7.1.5).
func (m *metrics) peerClosed(status int) {
	if status < 0 {
		status = 1006
	}
	m.peerCloses.WithLabelValues(strconv.Itoa(status)).Inc()
}

// The limits limitHit counts, named as in docs/security.md.
const (
	limitConns          = "max_conns"
	limitConnsPerIP     = "max_conns_per_ip"
	limitSessionsOfUser = "max_sessions_per_user"
	limitUserFrames     = "user_frame_rate"
	limitUserBytes      = "user_byte_rate"
	limitConnFrames     = "conn_frame_rate"
	limitControlSize    = "control_frame_size"
	limitQueueBytes     = "send_queue_bytes"
)

// limitHit counts one refusal by the limit named.
func (m *metrics) limitHit(name string) { m.limits.WithLabelValues(name).Inc() }

// limitCount returns how many refusals the limit named made.
func (m *metrics) limitCount(name string) uint64 {
	var d dto.Metric
	if err := m.limits.WithLabelValues(name).Write(&d); err != nil {
		return 0
	}
	return uint64(d.GetCounter().GetValue())
}

// closeCount returns how many closes with code the relay initiated.
func (m *metrics) closeCount(code proto.Code) uint64 {
	var d dto.Metric
	if err := m.closes.WithLabelValues(strconv.Itoa(int(code))).Write(&d); err != nil {
		return 0
	}
	return uint64(d.GetCounter().GetValue())
}

// handler serves the registry in the format the scraper asks for (the text
// format 0.0.4 to a plain GET).
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// since returns the seconds elapsed from t, for latency histograms.
func since(t time.Time) float64 { return time.Since(t).Seconds() }

package relay

import (
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
	"github.com/prometheus/client_golang/prometheus"
)

// admission bounds the work the relay takes on and sheds the excess at the
// door (rules.AdmitLoad): a send that would overflow a bound is refused at
// once with 4301 and a retry hint, instead of waiting behind seconds of
// backlog. The counts are relay-wide; each session keeps its own in-flight
// count and its Shed.
type admission struct {
	capacity   rules.Capacity
	retryAfter time.Duration

	sends  atomic.Int64 // sends admitted, not answered yet
	bytes  atomic.Int64 // their rules.SendBytes
	queued atomic.Int64 // frames waiting in connection send queues (the WebSocket edge counts them)
	delay  atomic.Int64 // nanoseconds the send answered last waited, read to ack

	refused [rules.BoundsCount]prometheus.Counter
}

func newAdmission(o Options, m *metrics) *admission {
	a := &admission{
		capacity: rules.Capacity{
			ConnSends: o.MaxInflightPerConn, Sends: o.MaxInflightSends,
			Bytes: o.MaxInflightBytes, QueuedFrames: int64(o.MaxQueuedFrames),
			Delay: o.MaxSendDelay, DelayAbove: 2 * o.BatchMax,
		},
		retryAfter: o.OverloadRetryAfter,
	}
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_sends_refused_total",
		Help: "Sends refused at the door with 4301 (busy), by the bound that was full; order: held behind a refused send of the same connection.",
	}, []string{"bound"})
	m.reg.MustRegister(refused)
	for i, b := range rules.Bounds {
		a.refused[i] = refused.WithLabelValues(b)
	}
	m.gaugeFunc("parley_inflight_sends", "Sends admitted and not answered yet (waiting for the committer or in its transaction).",
		func() float64 { return float64(a.sends.Load()) })
	m.gaugeFunc("parley_inflight_bytes", "Bytes of the sends in flight, as admission weighs them.",
		func() float64 { return float64(a.bytes.Load()) })
	m.gaugeFunc("parley_queued_frames", "Frames waiting in connection send queues, as admission counts them.",
		func() float64 { return float64(a.queued.Load()) })
	for _, c := range []struct {
		name, help string
		v          float64
	}{
		{"parley_inflight_sends_limit", "Options.MaxInflightSends (0: no bound).", float64(max(0, o.MaxInflightSends))},
		{"parley_inflight_bytes_limit", "Options.MaxInflightBytes (0: no bound).", float64(max(0, o.MaxInflightBytes))},
		{"parley_queued_frames_limit", "Options.MaxQueuedFrames (0: no bound).", float64(max(0, o.MaxQueuedFrames))},
		{"parley_send_delay_limit_seconds", "Options.MaxSendDelay (0: no bound).", max(0, o.MaxSendDelay.Seconds())},
	} {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: c.name, Help: c.help}, func() float64 { return c.v }))
	}
	return a
}

// enter admits send b of session s, or returns the refusal to answer it
// with. An admitted send is in flight until leave. It runs on s's reader.
func (a *admission) enter(s *Session, b *proto.Send) (size int64, refusal *proto.ErrorBody) {
	if s.shed.Holding(b.ClientID) {
		return 0, a.refuse(s, b.ClientID, rules.BoundOrder)
	}
	size = rules.SendBytes(b)
	// Count first, then judge: racing readers can never together pass a
	// bound they would each see as full.
	load := rules.Load{
		ConnSends:    int(s.inflight.Add(1)),
		Sends:        int(a.sends.Add(1)),
		Bytes:        a.bytes.Add(size),
		QueuedFrames: a.queued.Load(),
		LastDelay:    time.Duration(a.delay.Load()),
	}
	if bound := rules.AdmitLoad(load, a.capacity); bound != "" {
		a.leave(s, size)
		return 0, a.refuse(s, b.ClientID, bound)
	}
	return size, nil
}

func (a *admission) refuse(s *Session, clientID, bound string) *proto.ErrorBody {
	s.shed.Refused(clientID)
	for i, b := range rules.Bounds {
		if b == bound {
			a.refused[i].Inc()
		}
	}
	return rules.Busy(bound, a.retryAfter)
}

// answered records how long a send waited from read to its answer.
func (a *admission) answered(d time.Duration) { a.delay.Store(int64(d)) }

// leave ends a send's flight: it was answered (ack or error) or never
// reached the committer.
func (a *admission) leave(s *Session, size int64) {
	s.inflight.Add(-1)
	a.sends.Add(-1)
	a.bytes.Add(-size)
}

package main

import (
	"fmt"
	"time"

	"github.com/parley-im/parley/relay"
)

// overloadFlags adds the admission flags (relay.Options.MaxInflightSends
// and its siblings) to e. Once e is parsed, check reports a value that
// cannot work (sendQueue is --send-queue, which must hold the acks of a
// connection's sends in flight) and apply sets them on o.
func overloadFlags(e *envFlags) (check func(sendQueue int) error, apply func(o *relay.Options)) {
	fs := e.fs
	sends := fs.Int("max-inflight-sends", 1024, "sends admitted and not yet answered, relay-wide; beyond it a send is refused at once with 4301 (busy); negative disables")
	bytes := fs.Int64("max-inflight-bytes", 16<<20, "bytes of the sends in flight, relay-wide, beyond which sends are refused with 4301; negative disables")
	perConn := fs.Int("max-inflight-per-conn", 256, "sends in flight on one connection beyond which its sends are refused with 4301; negative disables")
	queued := fs.Int("max-queued-frames", 65536, "frames waiting in all connections' send queues beyond which sends are refused with 4301; negative disables")
	delay := fs.Duration("max-send-delay", 250*time.Millisecond, "refuse sends with 4301 while more than two commit batches are in flight and sends wait longer than this from read to ack; negative disables")
	retry := fs.Duration("overload-retry-after", 200*time.Millisecond, "the retry hint a refused send carries")
	for name, variable := range map[string]string{
		"max-inflight-sends": "PARLEY_MAX_INFLIGHT_SENDS", "max-inflight-bytes": "PARLEY_MAX_INFLIGHT_BYTES",
		"max-inflight-per-conn": "PARLEY_MAX_INFLIGHT_PER_CONN", "max-queued-frames": "PARLEY_MAX_QUEUED_FRAMES",
		"overload-retry-after": "PARLEY_OVERLOAD_RETRY_AFTER", "max-send-delay": "PARLEY_MAX_SEND_DELAY",
	} {
		e.bind(name, variable)
	}
	check = func(sendQueue int) error {
		for _, f := range []struct {
			name string
			v    int64
		}{{"max-inflight-sends", int64(*sends)}, {"max-inflight-bytes", *bytes}, {"max-inflight-per-conn", int64(*perConn)}, {"max-queued-frames", int64(*queued)}} {
			if f.v == 0 {
				return fmt.Errorf("--%s 0 would refuse every send; use a negative value to disable", f.name)
			}
		}
		if *delay == 0 {
			return fmt.Errorf("--max-send-delay 0 would refuse every send past two batches; use a negative value to disable")
		}
		if *retry <= 0 {
			return fmt.Errorf("--overload-retry-after %s is not positive", *retry)
		}
		if *perConn > 0 && sendQueue <= *perConn {
			return fmt.Errorf("--send-queue %d is not above --max-inflight-per-conn %d: the acks of a client's sends in flight would close it as a slow consumer", sendQueue, *perConn)
		}
		return nil
	}
	apply = func(o *relay.Options) {
		o.MaxInflightSends, o.MaxInflightBytes, o.MaxInflightPerConn = *sends, *bytes, *perConn
		o.MaxQueuedFrames, o.OverloadRetryAfter, o.MaxSendDelay = *queued, *retry, *delay
	}
	return check, apply
}

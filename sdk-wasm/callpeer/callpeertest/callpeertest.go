//go:build !js

// Package callpeertest holds what the tests of calls between native pion
// peers share: a WebRTC API that gathers on loopback, and a video track of
// dummy frames. It does not import callpeer, so callpeer's own tests can use
// it too.
package callpeertest

import (
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// LoopbackAPI gathers on loopback too (a test machine may have no other
// interface) and without mDNS, over UDP4.
func LoopbackAPI() *webrtc.API {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}

// VideoTrack returns a VP8 track that sends a dummy 800-byte frame every
// 20 ms until ended is closed (a call's Ended channel).
func VideoTrack(ended <-chan struct{}) (webrtc.TrackLocal, error) {
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "parley")
	if err != nil {
		return nil, err
	}
	go func() {
		frame := make([]byte, 800)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ended:
				return
			case <-tick.C:
				frame[0]++
				_ = track.WriteSample(media.Sample{Data: frame, Duration: 20 * time.Millisecond})
			}
		}
	}()
	return track, nil
}

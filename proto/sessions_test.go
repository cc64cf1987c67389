package proto

import (
	"strings"
	"testing"
)

func TestValidateSessions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body any
		code Code
	}{
		{"hello/platform web", &Hello{Token: "t", DeviceID: "d", Platform: "web"}, 0},
		{"hello/platform react-native", &Hello{Token: "t", DeviceID: "d", Platform: "react-native"}, 0},
		{"hello/no platform", &Hello{Token: "t", DeviceID: "d"}, 0},
		{"hello/platform upper case", &Hello{Token: "t", DeviceID: "d", Platform: "Web"}, CodeBadRequest},
		{"hello/platform space", &Hello{Token: "t", DeviceID: "d", Platform: "we b"}, CodeBadRequest},
		{"hello/platform too long", &Hello{Token: "t", DeviceID: "d", Platform: strings.Repeat("a", MaxPlatformBytes+1)}, CodeBadRequest},
		{"hello/platform at limit", &Hello{Token: "t", DeviceID: "d", Platform: strings.Repeat("a", MaxPlatformBytes)}, 0},
		{"devices/ok", &Devices{}, 0},
		{"kick-device/ok", &KickDevice{DeviceID: "phone-1"}, 0},
		{"kick-device/no device", &KickDevice{}, CodeBadRequest},
		{"kick-device/bad device", &KickDevice{DeviceID: "a:b"}, CodeBadRequest},
		{"not a request/device-list", &DeviceList{}, CodeProtocolError},
	}
	for _, c := range cases {
		err := Validate(c.body)
		switch {
		case c.code == 0 && err != nil:
			t.Errorf("%s: got %v, want valid", c.name, err)
		case c.code != 0 && err == nil:
			t.Errorf("%s: valid, want code %d", c.name, c.code)
		case c.code != 0 && err.Code != c.code:
			t.Errorf("%s: got %v, want code %d", c.name, err, c.code)
		}
	}
}

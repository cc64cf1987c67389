package rules

import (
	"reflect"
	"testing"
)

func TestParseDevicePolicy(t *testing.T) {
	t.Parallel()
	good := map[string]DevicePolicy{
		"":      {},
		"web=1": {"web": 1},
		" web = 2 , node=unlimited,react-native=1,miniapp=1": {"web": 2, "node": 0, "react-native": 1, "miniapp": 1},
		"other=3": {"other": 3},
	}
	for in, want := range good {
		got, err := ParseDevicePolicy(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseDevicePolicy(%q) = %v, %v; want %v", in, got, err, want)
		}
		again, err := ParseDevicePolicy(got.String())
		if err != nil || !reflect.DeepEqual(again, want) {
			t.Errorf("round trip of %q through %q = %v, %v", in, got.String(), again, err)
		}
	}
	for _, bad := range []string{"web", "web=0", "web=-1", "web=x", "Web=1", "web=1,web=2", "=1", "web=1,,node=1", "web=1.5"} {
		if p, err := ParseDevicePolicy(bad); err == nil {
			t.Errorf("ParseDevicePolicy(%q) = %v, want an error", bad, p)
		}
	}
}

func TestOverPolicy(t *testing.T) {
	t.Parallel()
	p := DevicePolicy{"web": 1, "react-native": 2, "node": 0}
	s := func(id, platform string, began int64) DeviceSession {
		return DeviceSession{Session: id, Device: "d" + id, Platform: platform, Began: began}
	}
	cases := []struct {
		name string
		in   []DeviceSession
		want []string
	}{
		{"none", nil, nil},
		{"web/one", []DeviceSession{s("a", "web", 1)}, nil},
		{"web/two, oldest over", []DeviceSession{s("b", "web", 2), s("a", "web", 1)}, []string{"a"}},
		{"web/three, two oldest over", []DeviceSession{s("c", "web", 3), s("a", "web", 1), s("b", "web", 2)}, []string{"a", "b"}},
		{"web/tie broken by id", []DeviceSession{s("b", "web", 1), s("a", "web", 1)}, []string{"a"}},
		{"rn/two within limit", []DeviceSession{s("a", "react-native", 1), s("b", "react-native", 2)}, nil},
		{"rn/three", []DeviceSession{s("a", "react-native", 1), s("b", "react-native", 2), s("c", "react-native", 3)}, []string{"a"}},
		{"node/unlimited", []DeviceSession{s("a", "node", 1), s("b", "node", 2), s("c", "node", 3)}, nil},
		{"unnamed platform/unlimited", []DeviceSession{s("a", "", 1), s("b", "", 2), s("c", "desktop", 3)}, nil},
		{"platforms apart", []DeviceSession{s("a", "web", 1), s("b", "node", 2), s("c", "react-native", 3)}, nil},
	}
	for _, c := range cases {
		var got []string
		for _, o := range OverPolicy(p, c.in) {
			got = append(got, o.Session)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: over = %v, want %v", c.name, got, c.want)
		}
	}
	if got := OverPolicy(DevicePolicy{}, []DeviceSession{s("a", "web", 1), s("b", "web", 2)}); got != nil {
		t.Errorf("default policy closed %v", got)
	}
}

// TestOverPolicyOther: "other" limits the sessions whose hello named no
// platform, and only those.
func TestOverPolicyOther(t *testing.T) {
	t.Parallel()
	p := DevicePolicy{"other": 1}
	in := []DeviceSession{
		{Session: "b", Device: "db", Platform: "", Began: 2},
		{Session: "a", Device: "da", Platform: "", Began: 1},
		{Session: "c", Device: "dc", Platform: "web", Began: 0},
		{Session: "d", Device: "dd", Platform: "web", Began: 3},
	}
	var got []string
	for _, o := range OverPolicy(p, in) {
		got = append(got, o.Session)
	}
	if !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("over policy %v: %v, want the older platformless session", p, got)
	}
}

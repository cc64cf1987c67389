//go:build !js

package relay

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/parley-im/parley/proto"
)

// connectedBus is the in-process bus reporting a connection, as the NATS
// bus does, so that parley_bus_connected is exposed.
type connectedBus struct{ *MemoryBus }

func (connectedBus) Connected() bool { return true }

// TestMetricsDocumented holds the operator's view together: every parley_
// series /metrics exposes is listed in docs/deployment.md, and every series
// the Grafana dashboard queries is one /metrics exposes.
func TestMetricsDocumented(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) { o.Bus = connectedBus{NewMemoryBus()} })
	c, _ := login(t, r, "alice", "d")
	c.ack(proto.P2PID("alice", "bob"), "1", "x")
	_, page := r.get("/metrics")
	families := map[string]string{} // name → type
	for _, line := range strings.Split(page, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			families[f[2]] = f[3]
		}
	}
	exposed := func(name string) bool {
		if _, ok := families[name]; ok {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && families[base] == "histogram" {
				return true
			}
		}
		return false
	}

	doc, err := os.ReadFile("../docs/deployment.md")
	ok(t, err)
	for name := range families {
		if strings.HasPrefix(name, "parley_") && !strings.Contains(string(doc), "`"+name) {
			t.Errorf("/metrics exposes %s, which docs/deployment.md does not list", name)
		}
	}

	raw, err := os.ReadFile("../docs/grafana/parley-relay.json")
	ok(t, err)
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	ok(t, json.Unmarshal(raw, &dash))
	series := regexp.MustCompile(`\b(?:parley|go|process)_[a-z0-9_]+`)
	queried := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			for _, name := range series.FindAllString(target.Expr, -1) {
				queried++
				if !exposed(name) {
					t.Errorf("dashboard panel %q queries %s, which /metrics does not expose", p.Title, name)
				}
			}
		}
	}
	if queried < 20 {
		t.Fatalf("the dashboard queries only %d series", queried)
	}
}

// TestMetricsExposed is the other direction: every series docs/deployment.md
// lists under Metrics is exposed with the documented type and labels.
func TestMetricsExposed(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) { o.Bus = connectedBus{NewMemoryBus()} })
	c, _ := login(t, r, "alice", "d")
	c.ack(proto.P2PID("alice", "bob"), "1", "x")
	_, page := r.get("/metrics")
	families := map[string]string{}        // name → type
	labels := map[string]map[string]bool{} // name → label names its samples carry
	sample := regexp.MustCompile(`^([a-z0-9_]+)(?:\{([^}]*)\})? `)
	labelName := regexp.MustCompile(`([a-z_]+)="`)
	for _, line := range strings.Split(page, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			families[f[2]] = f[3]
			continue
		}
		m := sample.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name := m[1]
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && families[base] == "histogram" {
				name = base
			}
		}
		if labels[name] == nil {
			labels[name] = map[string]bool{}
		}
		for _, l := range labelName.FindAllStringSubmatch(m[2], -1) {
			if l[1] != "le" {
				labels[name][l[1]] = true
			}
		}
	}

	doc, err := os.ReadFile("../docs/deployment.md")
	ok(t, err)
	_, section, _ := strings.Cut(string(doc), "\n## Metrics\n")
	section, _, _ = strings.Cut(section, "\n#")
	row := regexp.MustCompile("(?m)^\\| (`parley_[^|]*)\\| ([a-z]+) \\|")
	series := regexp.MustCompile("`(parley_[a-z0-9_]+)(?:\\{([a-z_,]+)\\})?`")
	listed := 0
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		for _, s := range series.FindAllStringSubmatch(m[1], -1) {
			listed++
			name, typ := s[1], m[2]
			if got, ok := families[name]; !ok {
				t.Errorf("docs/deployment.md lists %s, which /metrics does not expose", name)
				continue
			} else if got != typ {
				t.Errorf("%s is a %s, docs/deployment.md says %s", name, got, typ)
			}
			want := map[string]bool{}
			if s[2] != "" {
				for _, l := range strings.Split(s[2], ",") {
					want[l] = true
				}
			}
			for l := range want {
				if !labels[name][l] {
					t.Errorf("%s has no label %q, which docs/deployment.md documents", name, l)
				}
			}
			for l := range labels[name] {
				if !want[l] {
					t.Errorf("%s has label %q, which docs/deployment.md does not document", name, l)
				}
			}
		}
	}
	if listed < 30 {
		t.Fatalf("docs/deployment.md lists only %d series", listed)
	}

	// The values a refusal is counted under, as the table lists them: each
	// series starts with every value at 0, so the scrape holds them all.
	values := func(name, label string) []string {
		var out []string
		re := regexp.MustCompile("^" + name + `\{` + label + `="([^"]+)"\}`)
		for _, line := range strings.Split(page, "\n") {
			if m := re.FindStringSubmatch(line); m != nil {
				out = append(out, m[1])
			}
		}
		sort.Strings(out)
		return out
	}
	for _, c := range []struct{ name, label string }{
		{"parley_sends_refused_total", "bound"},
		{"parley_limit_refused_total", "limit"},
	} {
		line := regexp.MustCompile("(?m)^\\| `" + c.name + `\{` + c.label + "\\}`.*$").FindString(section)
		var documented []string
		for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(line, -1) {
			documented = append(documented, m[1])
		}
		sort.Strings(documented)
		equal(t, documented, values(c.name, c.label), c.name+": the values docs/deployment.md lists")
	}
}

// disconnectedBus is the in-process bus reporting that it lost its
// connection, as the NATS bus does while it reconnects.
type disconnectedBus struct{ *MemoryBus }

func (disconnectedBus) Connected() bool { return false }

// TestHealthWithBusDown: /healthz answers for the store alone: with the bus
// disconnected it is still 200 while parley_bus_connected reads 0.
func TestHealthWithBusDown(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) { o.Bus = disconnectedBus{NewMemoryBus()} })
	code, body := r.get("/healthz")
	equal(t, [2]any{code, body}, [2]any{200, "ok\n"}, "healthz with the bus down")
	equal(t, r.metric("parley_bus_connected"), "0", "parley_bus_connected")
}

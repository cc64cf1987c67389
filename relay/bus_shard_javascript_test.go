//go:build !js

package relay

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestShardOfMatchesJavaScript: the Workers relay's front door routes a
// user's WebSocket with the JavaScript shardOf (relay/edge/js/shard.mjs)
// and its shards send each other fan-out with ShardOf: both must give every
// user the same shard. The pinned vectors (testdata/shard_vectors.json)
// are checked against ShardOf, and the JavaScript function is run on them
// in Node, together with a thousand more ids.
func TestShardOfMatchesJavaScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found on PATH")
	}
	raw, err := os.ReadFile("testdata/shard_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	type vector struct {
		User   string `json:"user"`
		Shards int    `json:"shards"`
		Shard  int    `json:"shard"`
	}
	var vs []vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		u := string(rune('a'+i%26)) + "user-" + string(rune(0x4e00+i)) + "-" + string(rune('0'+i%10))
		for _, n := range []int{1, 3, 8, 256} {
			vs = append(vs, vector{User: u, Shards: n, Shard: -1})
		}
	}
	for i, v := range vs {
		got := ShardOf(v.User, v.Shards)
		if v.Shard >= 0 && got != v.Shard {
			t.Fatalf("ShardOf(%q, %d) = %d, pinned %d", v.User, v.Shards, got, v.Shard)
		}
		vs[i].Shard = got
	}
	in, _ := json.Marshal(vs)
	mod, err := filepath.Abs("edge/js/shard.mjs")
	if err != nil {
		t.Fatal(err)
	}
	script := `import { shardOf } from ` + jsonString(mod) + `;
let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
  const bad = JSON.parse(s).filter((v) => shardOf(v.user, v.shards) !== v.shard);
  process.stdout.write(JSON.stringify(bad.slice(0, 5).map((v) => ({ ...v, js: shardOf(v.user, v.shards) }))));
});`
	cmd := exec.Command(node, "--input-type=module", "-e", script)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	if string(out) != "[]" {
		t.Fatalf("the JavaScript shardOf differs from ShardOf: %s", out)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

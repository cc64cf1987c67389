package main

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/parley-im/parley/internal/gensrc"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// TestBridgeTSUpToDate is the drift check: bindings/src/bridge.gen.ts must
// be exactly what the generator prints for the current Go types.
func TestBridgeTSUpToDate(t *testing.T) {
	t.Parallel()
	root, err := gensrc.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	want, err := generate(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := gensrc.Drift(root, Output, want, "go run ./internal/genbridge"); err != nil {
		t.Fatal(err)
	}
}

// TestShapesMatchTheJSON encodes a value of every core shape with every
// field set and checks that the generated interface declares exactly the
// keys encoding/json writes, the required ones without "?": what the
// TypeScript reads is what Go writes.
func TestShapesMatchTheJSON(t *testing.T) {
	t.Parallel()
	root, err := gensrc.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	src, err := generate(root)
	if err != nil {
		t.Fatal(err)
	}
	m := core.Message{ID: "i", ClientID: "c", ConvID: "p:a:b", Seq: 1, Sender: "a", Device: "d", Type: "text", Text: "t",
		Body: []byte{1}, CreatedAt: 1, LocalTime: 1, Status: core.StatusFailed, ErrorCode: 4203,
		ReplyTo: "p:a:b#1", Mentions: []string{"a"}, Recalled: true, EditedAt: 1, Reactions: []core.Reaction{{Emoji: "x", Users: []string{"a"}}},
		Target: 1, Hidden: true,

		Attachment: &core.Attachment{ID: "x", Name: "n", Size: 1, Mime: "m", Width: 1, Height: 1, DurationMs: 1}}
	cv := core.Conversation{ID: "p:a:b", Kind: "p2p", Name: "n", Members: []string{"a"}, LastMessage: &m, LastSeq: 1, ReadSeq: 1,
		Unread: 1, SyncedSeq: 1, Version: 1, Pinned: true, Muted: true, Hidden: true, Draft: "d",
		Mentioned: true, MentionSeq: 1, PeerReadSeq: 1,
		Role: "owner", Avatar: "a", Notice: "n", Custom: "c", JoinPolicy: "open", MutedUntil: 1, MuteAll: true,
		Skipped: []core.SeqRange{{From: 1, To: 2}}, EventSeqs: []uint64{2}, MentionSeqs: []uint64{2}}
	notice := core.GroupNotice{Kind: "invite", ConvID: "g:x", Name: "n", User: "b", By: "a", Note: "n", At: 1, Done: true}
	rel := core.Relation{User: "b", State: "pending", Note: "n", Blocked: true, At: 1}
	set := core.ConvSetting{ConvID: "p:a:b", Pinned: true, Muted: true, Hidden: true, HiddenSeq: 1}
	acct := core.Account{Cursor: 1, ContactsOnly: true, Relations: []core.Relation{rel}, Settings: []core.ConvSetting{set},
		Drafts: []core.Draft{{ConvID: "p:a:b", Text: "t"}}, Notices: []core.GroupNotice{notice}, Hidden: []string{"p:a:b#1"}}
	meta := core.Meta{DeviceID: "d", UserID: "a", Epoch: "e", SyncCursor: 1, NextOrder: 1, Account: &acct,
		Profiles: []core.Profile{{User: "b", UpdatedAt: 1}}}
	e := core.OutboxEntry{Order: 1, Message: m}
	cur := core.SearchCursor{CreatedAt: 1, ConvID: "p:a:b", Seq: 1, ClientID: "c"}
	call := core.Call{ID: "c", ConvID: "p:a:b", Direction: "outgoing", From: "a", Peers: []string{"b"}, Joined: []string{"b"},
		Audio: true, Video: true, State: core.CallEnded, Reason: "hangup", DurationMs: 1,
		ICEServers: []core.ICEServer{{URLs: []string{"turn:x"}, Username: "u", Credential: "c"}}}
	sig := core.CallSignal{CallID: "c", Peer: "b", Kind: "offer", Data: "v=0"}
	for ts, v := range map[string]any{
		"StoredMessage":      m,
		"StoredAttachment":   *m.Attachment,
		"StoredConversation": cv,
		"StorageMeta":        meta,
		"OutboxEntry":        e,
		"StorageSnapshot":    core.Snapshot{Meta: meta, Conversations: []core.Conversation{cv}, Outbox: []core.OutboxEntry{e}},
		"StorageBatch": core.Batch{Reset: true, Meta: &meta, Conversation: []core.Conversation{cv}, Messages: []core.Message{m},
			OutboxPut: []core.OutboxEntry{e}, OutboxDelete: []string{"c"}},
		"SearchCursor":       cur,
		"StorageSearchQuery": core.SearchQuery{Text: "t", ConvID: "p:a:b", Before: &cur, Limit: 1},
		"BridgeEvent": core.Event{Kind: core.EventState, State: core.StateConnected, Code: 1, Reason: "r", Message: &m, Conversation: &cv, Typing: &core.Typing{ConvID: "p:a:b", User: "a"},
			Relation: &rel, Answer: &core.ContactAnswer{User: "b", Accepted: true}, Total: 1, Notice: &notice,
			Presence: &core.Presence{User: "a"}, Profile: &core.Profile{User: "a"},
			Call: &core.CallEvent{Change: core.CallJoined, Peer: "b", Call: call}, Signal: &sig},
		"GroupNotice":        notice,
		"SeqRange":           core.SeqRange{From: 1, To: 2},
		"Member":             core.Member{User: "a", Role: "admin", JoinedAt: 1, MutedUntil: 1},
		"Relation":           rel,
		"StoredConvSetting":  set,
		"StoredDraft":        core.Draft{ConvID: "p:a:b", Text: "t"},
		"StorageAccount":     acct,
		"ContactAnswerEvent": core.ContactAnswer{User: "b", Accepted: true},
		"BridgeCall":         call,
		"BridgeCallEvent":    core.CallEvent{Change: core.CallJoined, Peer: "b", Call: call},
		"BridgeCallSignal":   sig,
		"TypingEvent":        core.Typing{ConvID: "p:a:b", User: "a"},
		"StoredReaction":     core.Reaction{Emoji: "x", Users: []string{"a"}},
		"Presence":           core.Presence{User: "a", Online: true, Status: "s", LastSeen: 1},
		"Profile":            core.Profile{User: "a", Nickname: "n", Avatar: "v", Custom: "c", UpdatedAt: 1, Deleted: true},
	} {
		full, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var keys map[string]any
		if err := json.Unmarshal(full, &keys); err != nil {
			t.Fatal(err)
		}
		// What stays when every omitempty field is empty: the required keys.
		zero, _ := json.Marshal(zeroOf(v))
		var required map[string]any
		if err := json.Unmarshal(zero, &required); err != nil {
			t.Fatal(err)
		}
		declared := interfaceFields(t, string(src), ts)
		var want, got []string
		for k := range keys {
			q := "?"
			if _, ok := required[k]; ok {
				q = ""
			}
			want = append(want, k+q)
		}
		for k, optional := range declared {
			q := ""
			if optional {
				q = "?"
			}
			got = append(got, k+q)
		}
		sort.Strings(want)
		sort.Strings(got)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s declares %v; Go writes %v", ts, got, want)
		}
	}
}

func zeroOf(v any) any {
	switch v.(type) {
	case core.Message:
		return core.Message{}
	case core.Conversation:
		return core.Conversation{}
	case core.Meta:
		return core.Meta{}
	case core.OutboxEntry:
		return core.OutboxEntry{}
	case core.Snapshot:
		return core.Snapshot{}
	case core.Batch:
		return core.Batch{}
	case core.SearchCursor:
		return core.SearchCursor{}
	case core.SearchQuery:
		return core.SearchQuery{}
	case core.Event:
		return core.Event{}
	case core.Typing:
		return core.Typing{}
	case core.Reaction:
		return core.Reaction{}
	case core.Call:
		return core.Call{}
	case core.CallEvent:
		return core.CallEvent{}
	case core.CallSignal:
		return core.CallSignal{}
	case core.Attachment:
		return core.Attachment{}
	case core.Relation:
		return core.Relation{}
	case core.ConvSetting:
		return core.ConvSetting{}
	case core.Draft:
		return core.Draft{}
	case core.Account:
		return core.Account{}
	case core.ContactAnswer:
		return core.ContactAnswer{}
	case core.GroupNotice:
		return core.GroupNotice{}
	case core.Member:
		return core.Member{}
	case core.SeqRange:
		return core.SeqRange{}
	case core.Presence:
		return core.Presence{}
	case core.Profile:
		return core.Profile{}
	}
	panic("no zero value for this type")
}

var fieldLine = regexp.MustCompile(`^  (\w+)(\??): `)

// interfaceFields reads the fields of interface name from generated
// TypeScript: name → optional.
func interfaceFields(t *testing.T, src, name string) map[string]bool {
	t.Helper()
	start := strings.Index(src, "export interface "+name+" {\n")
	if start < 0 {
		t.Fatalf("no interface %s", name)
	}
	body := src[start:]
	body = body[:strings.Index(body, "\n}\n")]
	out := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if m := fieldLine.FindStringSubmatch(line); m != nil {
			out[m[1]] = m[2] == "?"
		}
	}
	return out
}

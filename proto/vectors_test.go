package proto

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Wire vectors shared with the TypeScript tests. The Go values below are the
// source; `go test ./proto -run TestVectors -update` writes them to
// testdata/vectors and seeds the fuzz corpora from them, and a plain
// `go test` fails when the files drift from these values. The file format is
// described in testdata/vectors/FORMAT.md.

const (
	vectorsDir   = "testdata/vectors"
	validFile    = "vectors.json"
	invalidFile  = "invalid.json"
	seedPrefix   = "seed-"
	maxSeedBytes = 512 // large invalid vectors stay out of the fuzz corpus
)

// Realistic values shared by the vectors.
const (
	vAlice    = "alice"
	vBob      = "bob"
	vCarol    = "carol"
	vDevWeb   = "web-7f3a9c"
	vDevIOS   = "ios-2b81d0"
	vGroup    = "g:design-team"
	vToken    = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTc2NDA3NTYwMH0.rM4Xl2Zl04A2RvA9Ph25m8niySuWLv9nyCgmf0Ko_pY"
	vEpoch    = "01JDQ3ZK5XG8D4T6B9R2MNV7YH"
	vNow      = int64(1764072000123) // 2025-11-25T12:00:00.123Z in unix ms
	vTokenExp = int64(1764075600)    // an hour later, unix seconds
	vClient1  = "01JDQ4N8Z6W3F5V2K9M7TCXRHE"
	vClient2  = "01JDQ4P1B7S0A8E3H6J9KQWD2F"
	vClient3  = "01JDQ4Q5YD9C2G7M1N4R8VTXZ3"
	vCall     = "k7q2m4x9c3v8b1n5"
)

var (
	vP2P      = P2PID(vBob, vAlice) // "p:alice:bob"
	vLocation = []byte(`{"kind":"location","lat":52.52,"lon":13.405}`)
)

type validVector struct {
	name  string
	frame Frame
}

type invalidVector struct {
	name string
	in   []byte
	code Code
}

func vPhoto() *Attachment {
	return &Attachment{ID: "4f1c0e6a9b2d4c7e8a1f3b5d7c9e0a2b", Name: "IMG_2041.jpg", Size: 348_213, Mime: "image/jpeg",
		Width: 1280, Height: 960}
}

func vMsgText() Message {
	return Message{ConvID: vP2P, Seq: 42, Sender: vAlice, ClientID: vClient1, MsgType: MsgText,
		Text: "hello, Bob 👋 — lunch at 12:30?", CreatedAt: vNow, Device: vDevWeb}
}

func vMsgCustom() Message {
	return Message{ConvID: vGroup, Seq: 7, Sender: vBob, ClientID: vClient2, MsgType: MsgCustom,
		Body: vLocation, CreatedAt: vNow + 2150, Device: vDevIOS}
}

func vGroupConv() Conversation {
	return Conversation{ID: vGroup, Kind: KindGroup, Name: "Design team ✏️", Members: []string{vAlice, vBob, vCarol},
		LastSeq: 7, ReadSeq: 5, Version: 1874, CreatedAt: vNow - 86_400_000}
}

// validVectors covers every frame type with values a real session sends.
func validVectors() []validVector {
	msgText, msgCustom := vMsgText(), vMsgCustom()
	older := Message{ConvID: vP2P, Seq: 41, Sender: vBob, ClientID: vClient3, MsgType: MsgText,
		Text: "are you free today?", CreatedAt: vNow - 60_000, Device: vDevIOS}
	p2pConv := Conversation{ID: vP2P, Kind: KindP2P, Members: []string{vAlice, vBob}, LastSeq: 42, ReadSeq: 41,
		LastMessage: &msgText, Version: 1873, CreatedAt: vNow - 7*86_400_000}
	groupConv := vGroupConv()
	groupConv.LastMessage = &msgCustom
	readConv := p2pConv
	readConv.ReadSeq, readConv.Version = 42, 1875
	newGroup := Conversation{ID: vGroup, Kind: KindGroup, Name: "Design team ✏️", Members: []string{vAlice, vBob, vCarol},
		Version: 1876, CreatedAt: vNow}

	return []validVector{
		{"hello", Frame{Type: TypeHello, ID: 1, Body: &Hello{Version: Version, Token: vToken, DeviceID: vDevWeb, Client: "parley-go/0.1.0"}}},
		{"hello/minimal", Frame{Type: TypeHello, ID: 1, Body: &Hello{Version: Version, Token: vToken, DeviceID: vDevIOS}}},
		{"welcome", Frame{Type: TypeWelcome, ID: 1, Body: &Welcome{Version: Version, UserID: vAlice, Epoch: vEpoch,
			ServerTime: vNow, HeartbeatMs: 25_000, MaxFrame: DefaultMaxFrame, SessionID: "s-4c9e1a0b", TokenExp: vTokenExp}}},
		{"welcome/minimal", Frame{Type: TypeWelcome, ID: 1, Body: &Welcome{Version: Version, UserID: vBob, Epoch: vEpoch,
			ServerTime: vNow, HeartbeatMs: 25_000, MaxFrame: DefaultMaxFrame}}},
		{"send/text", Frame{Type: TypeSend, ID: 2, Body: &Send{ConvID: vP2P, ClientID: vClient1, MsgType: MsgText,
			Text: msgText.Text}}},
		{"send/custom", Frame{Type: TypeSend, ID: 3, Body: &Send{ConvID: vGroup, ClientID: vClient2, MsgType: MsgCustom,
			Body: vLocation}}},
		{"send/image", Frame{Type: TypeSend, ID: 15, Body: &Send{ConvID: vP2P, ClientID: vClient3, MsgType: MsgImage,
			Attachment: vPhoto()}}},
		{"send/file", Frame{Type: TypeSend, ID: 16, Body: &Send{ConvID: vGroup, ClientID: vClient2, MsgType: MsgFile,
			Text: "the brief, v3", Attachment: &Attachment{ID: "9d2e4b6a8c0f1e3d5b7a9c1e3f5d7b90", Name: "brief-v3.pdf",
				Size: 5_242_880, Mime: "application/pdf"}}}},
		{"send/location", Frame{Type: TypeSend, ID: 17, Body: &Send{ConvID: vP2P, ClientID: vClient1, MsgType: MsgLocation,
			Body: []byte(`{"lat":52.52,"lng":13.405,"title":"Alexanderplatz"}`)}}},
		{"deliver/image", Frame{Type: TypeDeliver, Body: &Deliver{Message: Message{ConvID: vP2P, Seq: 43, Sender: vAlice,
			ClientID: vClient3, MsgType: MsgImage, CreatedAt: vNow + 900, Device: vDevWeb, Attachment: vPhoto()}}}},
		{"ack", Frame{Type: TypeAck, ID: 2, Body: &Ack{ConvID: vP2P, ClientID: vClient1, Seq: 42, CreatedAt: vNow}}},
		{"ack/duplicate", Frame{Type: TypeAck, ID: 9, Body: &Ack{ConvID: vP2P, ClientID: vClient1, Seq: 42, CreatedAt: vNow,
			Duplicate: true}}},
		{"deliver/text", Frame{Type: TypeDeliver, Body: &Deliver{Message: msgText}}},
		{"deliver/custom", Frame{Type: TypeDeliver, Body: &Deliver{Message: msgCustom}}},
		{"sync/initial", Frame{Type: TypeSync, ID: 4, Body: &Sync{}}},
		{"sync/cursor", Frame{Type: TypeSync, ID: 4, Body: &Sync{Cursor: 1872, Limit: 100}}},
		{"sync/cursor-above-2^53", Frame{Type: TypeSync, ID: 4, Body: &Sync{Cursor: 1<<53 + 1}}},
		{"sync-result", Frame{Type: TypeSyncResult, ID: 4, Body: &SyncResult{
			Conversations: []Conversation{p2pConv, groupConv}, Cursor: 1874, More: true}}},
		{"sync-result/empty", Frame{Type: TypeSyncResult, ID: 5, Body: &SyncResult{Conversations: []Conversation{}, Cursor: 1874}}},
		{"history/after", Frame{Type: TypeHistory, ID: 6, Body: &History{ConvID: vP2P, After: 40, Limit: 50}}},
		{"history/before", Frame{Type: TypeHistory, ID: 7, Body: &History{ConvID: vGroup, Before: 120, Limit: 20}}},
		{"history-page", Frame{Type: TypeHistoryPage, ID: 6, Body: &HistoryPage{ConvID: vP2P,
			Messages: []Message{older, msgText}, LastSeq: 42}}},
		{"history-page/more", Frame{Type: TypeHistoryPage, ID: 7, Body: &HistoryPage{ConvID: vGroup,
			Messages: []Message{msgCustom}, More: true, LastSeq: 7}}},
		{"history-page/hidden", Frame{Type: TypeHistoryPage, ID: 9, Body: &HistoryPage{ConvID: vGroup,
			Messages: []Message{msgCustom}, LastSeq: 7, Hidden: []SeqRange{{From: 1, To: 6}}}}},
		{"history-page/empty", Frame{Type: TypeHistoryPage, ID: 8, Body: &HistoryPage{ConvID: vP2P, Messages: []Message{}, LastSeq: 42}}},
		{"read", Frame{Type: TypeRead, ID: 10, Body: &Read{ConvID: vP2P, Seq: 42}}},
		{"ok", Frame{Type: TypeOK, ID: 10}},
		{"conv-update", Frame{Type: TypeConvUpdate, Body: &ConvUpdate{Conversation: readConv}}},
		{"ping", Frame{Type: TypePing, ID: 11, Body: &Ping{Time: vNow}}},
		{"ping/empty", Frame{Type: TypePing, Body: &Ping{}}},
		{"pong", Frame{Type: TypePong, ID: 11, Body: &Pong{Time: vNow}}},
		{"error/forbidden", Frame{Type: TypeError, ID: 3, Body: &ErrorBody{Code: CodeForbidden, Message: "not a member of g:design-team"}}},
		{"error/unavailable", Frame{Type: TypeError, ID: 2, Body: &ErrorBody{Code: CodeUnavailable}}},
		{"error/busy", Frame{Type: TypeError, ID: 5, Body: &ErrorBody{Code: CodeBusy, Message: "relay overloaded, retry later",
			RetryAfter: 250}}},
		{"close/kicked", Frame{Type: TypeClose, Body: &Close{Code: CodeKicked, Reason: "signed in on another device"}}},
		{"close/shutdown", Frame{Type: TypeClose, Body: &Close{Code: CodeShutdown}}},
		{"create-group", Frame{Type: TypeCreateGroup, ID: 12, Body: &CreateGroup{ConvID: vGroup, Name: "Design team ✏️",
			Members: []string{vBob, vCarol}}}},
		{"create-group/relay-picks-id", Frame{Type: TypeCreateGroup, ID: 13, Body: &CreateGroup{Members: []string{vCarol}}}},
		{"create-group/key", Frame{Type: TypeCreateGroup, ID: 17, Body: &CreateGroup{Members: []string{vCarol}, Key: "k7Qx2mN9pL4r"}}},
		{"conv-result", Frame{Type: TypeConvResult, ID: 12, Body: &ConvResult{Conversation: newGroup}}},
		{"resync", Frame{Type: TypeResync}},
		{"renew", Frame{Type: TypeRenew, ID: 14, Body: &Renew{Token: vToken}}},
		{"renewed", Frame{Type: TypeRenewed, ID: 14, Body: &Renewed{TokenExp: 1764079200}}},
		{"close/session-expired", Frame{Type: TypeClose, Body: &Close{Code: CodeSessionExpired, Reason: "token expired"}}},
		{"error/renew-refused", Frame{Type: TypeError, ID: 14, Body: &ErrorBody{Code: CodeRenewRefused, Message: "token is for another user"}}},
		{"error/bad-name", Frame{Type: TypeError, ID: 15, Body: &ErrorBody{Code: CodeBadName, Message: "group name holds a control or bidi character"}}},
		{"typing/client", Frame{Type: TypeTyping, Body: &Typing{ConvID: vP2P}}},
		{"typing/relay", Frame{Type: TypeTyping, Body: &Typing{ConvID: vGroup, User: vBob}}},
		{"send/reply-mention", Frame{Type: TypeSend, ID: 16, Body: &Send{ConvID: vGroup, ClientID: vClient3, MsgType: MsgText,
			Text: "@bob agreed, ship it", ReplyTo: 7, Mentions: []string{vBob}}}},
		{"send/mention-all", Frame{Type: TypeSend, ID: 17, Body: &Send{ConvID: vGroup, ClientID: vClient1, MsgType: MsgText,
			Text: "@all standup in 5", Mentions: []string{MentionAll}}}},
		{"deliver/amended", Frame{Type: TypeDeliver, Body: &Deliver{Message: Message{ConvID: vGroup, Seq: 8, Sender: vCarol,
			ClientID: vClient3, MsgType: MsgText, Text: "@bob agreed, ship it today", CreatedAt: vNow + 4000, Device: vDevWeb,
			ReplyTo: 7, Mentions: []string{vBob}, EditedAt: vNow + 9000,
			Reactions: []Reaction{{Emoji: "👍", Users: []string{vAlice, vBob}}, {Emoji: "🎉", Users: []string{vBob}}}}}}},
		{"deliver/recalled", Frame{Type: TypeDeliver, Body: &Deliver{Message: Message{ConvID: vP2P, Seq: 43, Sender: vAlice,
			ClientID: vClient2, MsgType: MsgText, CreatedAt: vNow + 1000, Recalled: true}}}},
		{"deliver/recall-event", Frame{Type: TypeDeliver, Body: &Deliver{Message: Message{ConvID: vP2P, Seq: 44, Sender: vAlice,
			ClientID: vClient3, MsgType: MsgRecall, CreatedAt: vNow + 30_000, Device: vDevWeb, Target: 43}}}},
		{"amend/recall", Frame{Type: TypeAmend, ID: 18, Body: &Amend{ConvID: vP2P, ClientID: vClient3, Op: MsgRecall, Target: 43}}},
		{"amend/edit", Frame{Type: TypeAmend, ID: 19, Body: &Amend{ConvID: vGroup, ClientID: vClient2, Op: MsgEdit, Target: 8,
			Text: "@bob agreed, ship it today"}}},
		{"amend/react", Frame{Type: TypeAmend, ID: 20, Body: &Amend{ConvID: vGroup, ClientID: vClient1, Op: MsgReact, Target: 8, Text: "👍"}}},
		{"hide-message", Frame{Type: TypeHideMessage, ID: 21, Body: &HideMessage{ConvID: vGroup, Seq: 7}}},
		{"user-update/hidden", Frame{Type: TypeUserUpdate, Body: &UserUpdate{Entry: UserEntry{Pos: 1891, Hidden: &HideMessage{ConvID: vGroup, Seq: 7}}}}},
		{"receipts", Frame{Type: TypeReceipts, ID: 22, Body: &Receipts{ConvID: vGroup, Seq: 8}}},
		{"receipt-list", Frame{Type: TypeReceiptList, ID: 22, Body: &ReceiptList{ConvID: vGroup, Seq: 8,
			Read: []string{vBob}, Unread: []string{vCarol}}}},
		{"error/recall-window", Frame{Type: TypeError, ID: 18, Body: &ErrorBody{Code: CodeRecallWindow, Message: "recall window of 2m0s passed"}}},
		{"conv-update/peer-read", Frame{Type: TypeConvUpdate, Body: &ConvUpdate{Conversation: Conversation{ID: vP2P, Kind: KindP2P,
			Members: []string{vAlice, vBob}, LastSeq: 44, ReadSeq: 44, PeerReadSeq: 43, Version: 1890, CreatedAt: vNow - 7*86_400_000}}}},
		{"call-invite/video", Frame{Type: TypeCallInvite, ID: 16, Body: &CallInvite{CallID: vCall, ConvID: vP2P, Audio: true, Video: true}}},
		{"call-invite/audio-group", Frame{Type: TypeCallInvite, ID: 17, Body: &CallInvite{CallID: vCall, ConvID: vGroup, Audio: true}}},
		{"call-info", Frame{Type: TypeCallInfo, ID: 16, Body: &CallInfo{CallID: vCall, Peers: []string{vBob}, ICEServers: []ICEServer{
			{URLs: []string{"stun:turn.example.com:3478"}},
			{URLs: []string{"turn:turn.example.com:3478?transport=udp"}, Username: "1764075600:alice", Credential: "v8Nn0c8bOvVJY9fX1m3nBL6mJzA="}}}}},
		{"call-ring", Frame{Type: TypeCallRing, Body: &CallRing{CallID: vCall, ConvID: vP2P, From: vAlice, Audio: true, Video: true,
			Peers: []string{vAlice, vBob}}}},
		{"call-accept", Frame{Type: TypeCallAccept, ID: 18, Body: &CallAccept{CallID: vCall, Audio: true}}},
		{"call-end", Frame{Type: TypeCallEnd, ID: 19, Body: &CallEnd{CallID: vCall}}},
		{"call-state/joined", Frame{Type: TypeCallState, Body: &CallState{CallID: vCall, State: CallStateJoined, User: vBob}}},
		{"call-state/ended", Frame{Type: TypeCallState, Body: &CallState{CallID: vCall, State: CallStateEnded, Reason: CallHangup,
			DurationMs: 61250}}},
		{"call-signal/offer", Frame{Type: TypeCallSignal, ID: 20, Body: &CallSignal{CallID: vCall, Peer: vBob, Kind: SignalOffer,
			Data: "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}}},
		{"call-signal/candidate", Frame{Type: TypeCallSignal, Body: &CallSignal{CallID: vCall, Peer: vAlice, Kind: SignalCandidate,
			Data: `{"candidate":"candidate:1 1 udp 2130706431 192.0.2.7 50000 typ host","sdpMid":"0","sdpMLineIndex":0}`}}},
		{"create-group/info", Frame{Type: TypeCreateGroup, ID: 16, Body: &CreateGroup{ConvID: vGroup, Name: "Design team",
			Members: []string{vBob}, Avatar: "https://example.com/a.png", Notice: "Be kind", Custom: `{"tier":2}`,
			JoinPolicy: JoinApproval}}},
		{"group-op/add", Frame{Type: TypeGroupOp, ID: 17, Body: &GroupOp{ConvID: vGroup, Op: OpAdd, Users: []string{vCarol}}}},
		{"group-op/role", Frame{Type: TypeGroupOp, ID: 18, Body: &GroupOp{ConvID: vGroup, Op: OpRole, Users: []string{vBob}, Role: RoleAdmin}}},
		{"group-op/mute", Frame{Type: TypeGroupOp, ID: 19, Body: &GroupOp{ConvID: vGroup, Op: OpMute, Users: []string{vCarol}, Until: vNow + 3_600_000}}},
		{"group-op/mute-all", Frame{Type: TypeGroupOp, ID: 20, Body: &GroupOp{ConvID: vGroup, Op: OpMuteAll, On: true}}},
		{"group-op/update", Frame{Type: TypeGroupOp, ID: 21, Body: &GroupOp{ConvID: vGroup, Op: OpUpdate,
			Info: &GroupInfo{Name: ptr("Design"), Notice: ptr(""), JoinPolicy: JoinOpen}}}},
		{"group-op/request", Frame{Type: TypeGroupOp, ID: 22, Body: &GroupOp{ConvID: vGroup, Op: OpRequest, Note: "hi, I'm Carol"}}},
		{"group-op/answer-join", Frame{Type: TypeGroupOp, ID: 23, Body: &GroupOp{ConvID: vGroup, Op: OpAnswerJoin, Users: []string{vCarol}, On: true}}},
		{"group-op/leave", Frame{Type: TypeGroupOp, ID: 24, Body: &GroupOp{ConvID: vGroup, Op: OpLeave}}},
		{"members", Frame{Type: TypeMembers, ID: 25, Body: &Members{ConvID: vGroup, After: vAlice, Limit: 100}}},
		{"member-page", Frame{Type: TypeMemberPage, ID: 25, Body: &MemberPage{ConvID: vGroup, Members: []Member{
			{User: vBob, Role: RoleAdmin, JoinedAt: vNow}, {User: vCarol, Role: RoleMember, JoinedAt: vNow, MutedUntil: vNow + 60_000}}, More: true}}},
		{"group-notice/invite", Frame{Type: TypeGroupNotice, Body: &GroupNotice{Kind: PendingInvite, ConvID: vGroup, Name: "Design team",
			User: vCarol, By: vAlice, At: vNow}}},
		{"pending", Frame{Type: TypePending, ID: 26, Body: &Pending{}}},
		{"pending-list", Frame{Type: TypePendingList, ID: 26, Body: &PendingList{Items: []GroupNotice{{Kind: PendingRequest,
			ConvID: vGroup, Name: "Design team", User: vCarol, Note: "hi", At: vNow}}}}},
		{"deliver/system", Frame{Type: TypeDeliver, Body: &Deliver{Message: Message{ConvID: vGroup, Seq: 8, Sender: vAlice,
			ClientID: "sys-1", MsgType: MsgSystem, Body: EncodeGroupEvent(&GroupEvent{Event: EventRole, By: vAlice,
				Users: []string{vBob}, Role: RoleAdmin}), CreatedAt: vNow}}}},
		{"error/role", Frame{Type: TypeError, ID: 18, Body: &ErrorBody{Code: CodeRole, Message: "only the owner may set roles"}}},
		{"subscribe-presence", Frame{Type: TypeSubscribePresence, ID: 16, Body: &SubscribePresence{Users: []string{vBob, vCarol}, TTLMs: 3600000}}},
		{"subscribe-presence/unsubscribe", Frame{Type: TypeSubscribePresence, ID: 17, Body: &SubscribePresence{Users: []string{vCarol}, Op: PresenceUnsubscribe}}},
		{"presences", Frame{Type: TypePresences, ID: 16, Body: &Presences{List: []Presence{{User: vBob, Online: true, Status: "in a meeting"}, {User: vCarol, LastSeen: vNow}}}}},
		{"presences/push", Frame{Type: TypePresences, Body: &Presences{List: []Presence{{User: vBob, LastSeen: vNow}}}}},
		{"set-status", Frame{Type: TypeSetStatus, ID: 18, Body: &SetStatus{Status: "in a meeting"}}},
		{"set-profile", Frame{Type: TypeSetProfile, ID: 19, Body: &SetProfile{Nickname: ptr("Alice"), Avatar: ptr("https://example.com/a.png")}}},
		{"get-profiles", Frame{Type: TypeGetProfiles, ID: 20, Body: &GetProfiles{Users: []string{vAlice, vBob}}}},
		{"profiles", Frame{Type: TypeProfiles, ID: 20, Body: &Profiles{List: []Profile{{User: vAlice, Nickname: "Alice", Avatar: "https://example.com/a.png", Custom: `{"title":"designer"}`, UpdatedAt: vNow}, {User: vBob}}}}},
		{"profiles/deleted", Frame{Type: TypeProfiles, Body: &Profiles{List: []Profile{{User: vCarol, UpdatedAt: vNow, Deleted: true}}}}},
		{"error/presence-limit", Frame{Type: TypeError, ID: 16, Body: &ErrorBody{Code: CodePresenceLimit, Message: "3000 presence subscriptions is the most one user may hold"}}},
		{"contact/request", Frame{Type: TypeContact, ID: 16, Body: &Contact{Op: ContactRequest, User: vBob, Note: "alice from the design team"}}},
		{"contact/block", Frame{Type: TypeContact, ID: 17, Body: &Contact{Op: ContactBlock, User: vCarol}}},
		{"set-conv/pin-mute", Frame{Type: TypeSetConv, ID: 18, Body: &SetConv{ConvID: vGroup, Pinned: &vTrue, Muted: &vFalse}}},
		{"set-conv/hide", Frame{Type: TypeSetConv, ID: 19, Body: &SetConv{ConvID: vP2P, Hidden: &vTrue, Seq: 42}}},
		{"set-prefs", Frame{Type: TypeSetPrefs, ID: 20, Body: &Prefs{ContactsOnly: true}}},
		{"user-sync", Frame{Type: TypeUserSync, ID: 21, Body: &UserSync{Cursor: 1874}}},
		{"user-state", Frame{Type: TypeUserState, ID: 21, Body: &UserState{Entries: []UserEntry{
			{Pos: 1875, Relation: &Relation{User: vBob, State: RelContact, At: vNow}},
			{Pos: 1877, Relation: &Relation{User: vCarol, Blocked: true, At: vNow}},
			{Pos: 1880, Setting: &ConvSetting{ConvID: vP2P, Hidden: true, HiddenSeq: 42}},
			{Pos: 1881, Prefs: &Prefs{ContactsOnly: true}},
		}, Cursor: 1881}}},
		{"user-update/request", Frame{Type: TypeUserUpdate, Body: &UserUpdate{Entry: UserEntry{Pos: 1890,
			Relation: &Relation{User: vCarol, State: RelPending, Note: "hi, it's carol", At: vNow}}}}},
		{"user-update/invitation", Frame{Type: TypeUserUpdate, Body: &UserUpdate{Entry: UserEntry{Pos: 1891,
			Notice: &GroupNotice{Kind: PendingInvite, ConvID: vGroup, Name: "Trip", User: vBob, By: vAlice, At: vNow}}}}},
		{"user-update/invitation-done", Frame{Type: TypeUserUpdate, Body: &UserUpdate{Entry: UserEntry{Pos: 1895,
			Notice: &GroupNotice{Kind: PendingInvite, ConvID: vGroup, Name: "Trip", User: vBob, By: vAlice, At: vNow, Done: true}}}}},
		{"user-update/join-request", Frame{Type: TypeUserUpdate, Body: &UserUpdate{Entry: UserEntry{Pos: 1896,
			Notice: &GroupNotice{Kind: PendingRequest, ConvID: vGroup, Name: "Trip", User: vCarol, Note: "let me in", At: vNow}}}}},
		{"error/blocked", Frame{Type: TypeError, ID: 3, Body: &ErrorBody{Code: CodeBlocked, Message: "bob blocked you"}}},
		{"hello/platform", Frame{Type: TypeHello, ID: 1, Body: &Hello{Version: Version, Token: vToken, DeviceID: vDevWeb, Platform: "web"}}},
		{"devices", Frame{Type: TypeDevices, ID: 16, Body: &Devices{}}},
		{"device-list", Frame{Type: TypeDeviceList, ID: 16, Body: &DeviceList{Devices: []Device{
			{ID: vDevIOS, Platform: "react-native", ConnectedAt: vNow - 60_000},
			{ID: vDevWeb, Platform: "web", ConnectedAt: vNow, Current: true}}}}},
		{"kick-device", Frame{Type: TypeKickDevice, ID: 17, Body: &KickDevice{DeviceID: vDevIOS}}},
		{"error/no-such-device", Frame{Type: TypeError, ID: 17, Body: &ErrorBody{Code: CodeNoSuchDevice, Message: "no session of that device is open"}}},
		{"close/device-kicked", Frame{Type: TypeClose, Body: &Close{Code: CodeDeviceKicked, Reason: "signed out from another device"}}},
		{"close/device-policy", Frame{Type: TypeClose, Body: &Close{Code: CodeDevicePolicy, Reason: "a newer web session of this user opened"}}},
		{"close/token-revoked", Frame{Type: TypeClose, Body: &Close{Code: CodeTokenRevoked, Reason: "token revoked"}}},
	}
}

// invalidVectors are inputs Decode must reject, with the code it must give.
// Each is written item by item; the comments are CBOR diagnostic notation
// (RFC 8949 §8).
func invalidVectors() []invalidVector {
	hello := MustEncode(validVectors()[0].frame)
	ping := MustEncode(Frame{Type: TypePing, Body: &Ping{Time: vNow}})
	pe, tooLarge := CodeProtocolError, CodeFrameTooLarge

	// {1: 17, 3: {3: [4097 × ""]}}: one element above MaxArrayElements.
	longArray := hx("a2 01 11 03 a1 03 99 1001")
	longArray = append(longArray, bytes.Repeat([]byte{0x60}, MaxArrayElements+1)...)

	// {1: 11, 32: 0, 33: 0, …}: MaxMapPairs+1 pairs in the envelope.
	bigMap := []byte{0xb8, MaxMapPairs + 1, 0x01, 0x0b}
	for k := range MaxMapPairs {
		bigMap = append(bigMap, 0x18, byte(0x20+k), 0x00)
	}

	// {1: 13, 3: {99: [[[[[[[[]]]]]]]]}}: ten levels, MaxNestedLevels is 8.
	deep := hx("a2 01 0d 03 a1 18 63")
	deep = append(deep, bytes.Repeat([]byte{0x81}, 7)...)
	deep = append(deep, 0x80)

	return []invalidVector{
		{"garbage/break", hx("ff 00"), pe},
		{"garbage/reserved-info", hx("1c"), pe},                                                               // additional info 28 is reserved
		{"garbage/ascii", []byte("GET /v1/ws HTTP/1.1"), pe},                                                  // text sent as a binary message
		{"garbage/json", []byte(`{"type":3,"id":2}`), pe},                                                     // JSON, not CBOR
		{"empty", []byte{}, pe},                                                                               //
		{"not-a-map/uint", hx("0d"), pe},                                                                      // 13
		{"not-a-map/array", hx("83 0d 00 a0"), pe},                                                            // [13, 0, {}]
		{"not-a-map/null", hx("f6"), pe},                                                                      // null
		{"truncated/hello", hello[:len(hello)-1], pe},                                                         // last byte of a valid hello cut
		{"truncated/head", hx("a3"), pe},                                                                      // map of 3, nothing follows
		{"truncated/length", hx("a2 01 03 03 a1 05 59 01"), pe},                                               // byte string length cut mid-argument
		{"trailing/byte", append(slices.Clone(ping), 0x00), pe},                                               // a valid ping, then 0
		{"trailing/second-frame", append(slices.Clone(ping), ping...), pe},                                    // two frames in one message
		{"duplicate-key/envelope-type", hx("a3 01 0d 01 0e 03 a0"), pe},                                       // {1: 13, 1: 14, 3: {}}
		{"duplicate-key/envelope-body", hx("a3 01 0d 03 a0 03 a0"), pe},                                       // {1: 13, 3: {}, 3: {}}
		{"duplicate-key/envelope-unknown", hx("a4 01 0b 02 05 18 63 00 18 63 01"), pe},                        // {1: 11, 2: 5, 99: 0, 99: 1}
		{"duplicate-key/body", hx("a3 01 0a 02 0a 03 a3 01 6b 703a616c6963653a626f62 02 18 2a 02 18 2b"), pe}, // read {1: "p:alice:bob", 2: 42, 2: 43}
		{"duplicate-key/body-unknown", hx("a2 01 0d 03 a2 18 63 00 18 63 00"), pe},                            // ping {99: 0, 99: 0}
		{"duplicate-key/nested-message", hx("a2 01 05 03 a1 01 a2 02 01 02 02"), pe},                          // deliver {1: {2: 1, 2: 2}}
		{"duplicate-key/non-minimal", hx("a2 01 0d 03 a2 01 00 18 01 00"), pe},                                // ping {1: 0, 1_0: 0}
		{"duplicate-key/unknown-value", hx("a2 01 0d 03 a1 18 63 a2 01 00 01 00"), pe},                        // ping {99: {1: 0, 1: 0}}
		{"duplicate-key/unknown-value-text", hx("a2 01 0b 18 63 a2 61 61 00 78 01 61 01"), pe},                // ok {99: {"a": 0, "a": 1}}
		{"indefinite/envelope", hx("bf 01 0d 03 a0 ff"), pe},                                                  // {_ 1: 13, 3: {}}
		{"indefinite/body", hx("a2 01 0d 03 bf ff"), pe},                                                      // ping {_ }
		{"indefinite/array", hx("a3 01 11 02 0c 03 a1 03 9f 63 626f62 ff"), pe},                               // create-group {3: [_ "bob"]}
		{"indefinite/text", hx("a3 01 01 02 01 03 a3 01 01 02 7f 62 6579 ff 03 62 6431"), pe},                 // hello {2: (_ "ey")}
		{"indefinite/bytes", hx("a3 01 03 02 03 03 a4 01 63 673a78 02 62 6331 03 66 637573746f6d 05 5f 41 00 ff"), pe},
		{"tag/envelope", hx("d9 d9f7 a2 01 0d 03 a0"), pe},                                // 55799({1: 13, 3: {}}), the self-describe tag
		{"tag/time", hx("a2 01 0d 03 a1 01 c1 1a 69259ea0"), pe},                          // ping {1: 1(1764072096)}
		{"tag/bignum-cursor", hx("a3 01 06 02 04 03 a1 01 c2 49 010000000000000000"), pe}, // sync {1: 2(h'01…')}
		{"tag/unknown-key-value", hx("a2 01 0b 18 63 d8 20 60"), pe},                      // ok {99: 32("")}
		{"utf8/token", hx("a3 01 01 02 01 03 a3 01 01 02 62 c328 03 62 6431"), pe},        // hello token "\xc3\x28"
		{"utf8/text", hx("a3 01 03 02 02 03 a4 01 63 673a78 02 62 6331 03 64 74657874 04 61 ff"), pe},
		{"utf8/unknown-key-value", hx("a2 01 0b 18 63 62 c328"), pe},                                  // ok {99: "\xc3\x28"}
		{"utf8/unknown-map-key", hx("a2 01 0d 03 a1 18 63 a1 62 c328 00"), pe},                        // ping {99: {"\xc3\x28": 0}}
		{"utf8/overlong", hx("a2 01 0d 03 a1 18 63 62 c0af"), pe},                                     // ping {99: overlong "/"}
		{"utf8/surrogate", hx("a2 01 0d 03 a1 18 63 63 eda080"), pe},                                  // ping {99: U+D800}
		{"nesting/too-deep", deep, pe},                                                                //
		{"array/too-long", longArray, pe},                                                             //
		{"map/too-many-pairs", bigMap, pe},                                                            //
		{"type/zero", hx("a2 01 00 03 a0"), pe},                                                       //
		{"type/missing", hx("a1 03 a0"), pe},                                                          // {3: {}}
		{"type/empty-map", hx("a0"), pe},                                                              // {}
		{"type/unknown-47", hx("a2 01 18 2f 03 a0"), pe},                                              // first number after call-signal
		{"type/unknown-26", hx("a2 01 1a 03 a0"), pe},                                                 // first number after the group frames
		{"type/unknown-72", hx("a2 01 18 48 03 a0"), pe},                                              // first number after renewed
		{"type/unknown-63", hx("a2 01 18 3f 03 a0"), pe},                                              // first number after user-update
		{"type/unknown-67", hx("a2 01 18 43 03 a0"), pe},                                              // first number after kick-device
		{"type/unknown-99", hx("a1 01 18 63"), pe},                                                    //
		{"type/overflow-256", hx("a2 01 19 010d 03 a0"), pe},                                          // 269 is not ping (13) mod 256
		{"type/negative", hx("a2 01 2c 03 a0"), pe},                                                   // -13
		{"type/text", hx("a2 01 64 70696e67 03 a0"), pe},                                              // {1: "ping"}
		{"ok/with-body", hx("a2 01 0b 03 a0"), pe},                                                    // {1: 11, 3: {}}
		{"ok/with-null-body", hx("a2 01 0b 03 f6"), pe},                                               // {1: 11, 3: null}
		{"body/missing", hx("a2 01 03 02 02"), pe},                                                    // send without 3
		{"body/null", hx("a3 01 03 02 02 03 f6"), pe},                                                 // send {3: null}
		{"body/undefined", hx("a2 01 0d 03 f7"), pe},                                                  // ping {3: undefined}
		{"body/array", hx("a3 01 01 02 01 03 83 01 61 74 62 6431"), pe},                               // hello as an array
		{"body/text", hx("a2 01 0d 03 62 7b7d"), pe},                                                  // {3: "{}"}
		{"body/bytes-wrapping-map", hx("a2 01 0d 03 41 a0"), pe},                                      // {3: h'a0'}
		{"field/version-text", hx("a3 01 01 02 01 03 a3 01 61 31 02 61 74 03 62 6431"), pe},           // hello {1: "1"}
		{"field/version-overflow", hx("a3 01 01 02 01 03 a3 01 1a 00010000 02 61 74 03 62 6431"), pe}, // hello {1: 65536}
		{"field/conv-id-int", hx("a3 01 0a 02 0a 03 a2 01 05 02 18 2a"), pe},                          // read {1: 5}
		{"field/token-bytes", hx("a3 01 01 02 01 03 a3 01 01 02 41 74 03 62 6431"), pe},               // hello {2: h'74'}
		{"field/seq-negative", hx("a3 01 0a 02 0a 03 a2 01 6b 703a616c6963653a626f62 02 20"), pe},     // read {2: -1}
		{"field/seq-float", hx("a3 01 0a 02 0a 03 a2 01 6b 703a616c6963653a626f62 02 f9 5140"), pe},   // read {2: 42.0}
		{"field/time-float", hx("a2 01 0d 03 a1 01 fb 41d9a4b7a0000000"), pe},                         // ping {1: 1.7e9}
		{"field/duplicate-int", hx("a2 01 04 03 a1 05 01"), pe},                                       // ack {5: 1}, want bool
		{"field/code-overflow", hx("a3 01 0f 02 03 03 a1 01 1a 00011170"), pe},                        // error {1: 70000}
		{"field/members-text", hx("a3 01 11 02 0c 03 a1 03 63 626f62"), pe},                           // create-group {3: "bob"}
		{"field/message-array", hx("a2 01 05 03 a1 01 80"), pe},                                       // deliver {1: []}
		{"field/request-id-negative", hx("a3 01 0d 02 20 03 a0"), pe},                                 // {2: -1}
		{"field/request-id-text", hx("a3 01 0d 02 61 31 03 a0"), pe},                                  // {2: "1"}
		{"key/float", hx("a3 01 0d 03 a0 f9 3c00 00"), pe},                                            // {1.0: 0}
		{"key/bytes", hx("a3 01 0d 03 a0 41 01 00"), pe},                                              // {h'01': 0}
		{"key/array", hx("a3 01 0d 03 a0 81 01 00"), pe},                                              // {[1]: 0}
		{"oversize", oversizeFrame(), tooLarge},
	}
}

// oversizeFrame is a well-formed send one byte above DefaultMaxFrame, so the
// size check must come before parsing.
func oversizeFrame() []byte {
	for n := DefaultMaxFrame - 64; ; n++ {
		b := MustEncode(Frame{Type: TypeSend, ID: 2, Body: &Send{ConvID: vP2P, ClientID: vClient1, MsgType: MsgCustom,
			Body: bytes.Repeat([]byte{'x'}, n)}})
		if len(b) == DefaultMaxFrame+1 {
			return b
		}
		if len(b) > DefaultMaxFrame+1 {
			panic("oversizeFrame: no length lands on the limit")
		}
	}
}

// File forms.

type validVectorJSON struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Hex   string          `json:"hex"`
	Frame json.RawMessage `json:"frame"`
}

type invalidVectorJSON struct {
	Name string `json:"name"`
	Hex  string `json:"hex"`
	Code Code   `json:"code"`
}

func marshalVectors(t *testing.T) (valid, invalid []byte) {
	t.Helper()
	var vs []jsonObject
	for _, v := range validVectors() {
		b, err := Encode(v.frame)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		vs = append(vs, jsonObject{
			{"name", v.name},
			{"type", v.frame.Type.String()},
			{"hex", hex.EncodeToString(b)},
			{"frame", renderFrame(v.frame)},
		})
	}
	var is []jsonObject
	for _, v := range invalidVectors() {
		is = append(is, jsonObject{{"name", v.name}, {"hex", hex.EncodeToString(v.in)}, {"code", uint16(v.code)}})
	}
	return indentJSON(t, vs), indentJSON(t, is)
}

func indentJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// seedName turns a vector name into a corpus file name.
func seedName(prefix, name string) string {
	r := strings.NewReplacer("/", "-", "^", "")
	return seedPrefix + prefix + r.Replace(name)
}

// corpusFile is the `go test fuzz v1` encoding of one []byte or string
// argument, as the fuzzing engine writes it.
func corpusFile(arg any) []byte {
	switch a := arg.(type) {
	case []byte:
		return []byte("go test fuzz v1\n[]byte(" + strconv.Quote(string(a)) + ")\n")
	case string:
		return []byte("go test fuzz v1\nstring(" + strconv.Quote(a) + ")\n")
	}
	panic(fmt.Sprintf("corpusFile: %T", arg))
}

// seedCorpora returns the generated seed files of every fuzz target, by
// target then file name. Files the fuzzing engine adds (crashers) are named by
// hash, never with seedPrefix, so generation leaves them alone.
func seedCorpora() map[string]map[string][]byte {
	out := map[string]map[string][]byte{"FuzzDecode": {}, "FuzzValidate": {}, "FuzzConvID": {}, "FuzzPeekType": {}, "FuzzPeek": {}}
	requests := map[Type]bool{}
	for _, v := range validVectors() {
		b := MustEncode(v.frame)
		out["FuzzDecode"][seedName("", v.name)] = corpusFile(b)
		out["FuzzPeekType"][seedName("", v.name)] = corpusFile(b)
		if v.frame.Body != nil && Validate(v.frame.Body) == nil && !requests[v.frame.Type] {
			requests[v.frame.Type] = true // one seed per request type
			out["FuzzValidate"][seedName("", v.name)] = corpusFile(b)
		}
		switch v.frame.Type { // the frames a peek reads fields of
		case TypeDeliver, TypeAck, TypeError, TypeClose:
			out["FuzzPeek"][seedName("", v.name)] = corpusFile(b)
		}
	}
	// One invalid seed per category keeps the corpus small; the fuzzer
	// mutates its way to the rest.
	categories := map[string]bool{}
	for _, v := range invalidVectors() {
		category, _, _ := strings.Cut(v.name, "/")
		if len(v.in) <= maxSeedBytes && !categories[category] {
			categories[category] = true
			out["FuzzDecode"][seedName("invalid-", v.name)] = corpusFile(v.in)
		}
	}
	// The envelope's keys out of the canonical order: PeekType's slow path.
	out["FuzzPeekType"][seedPrefix+"key-order"] = corpusFile([]byte{0xa3, 0x02, 0x05, 0x01, byte(TypePing), 0x03, 0xa1, 0x01, 0x01})
	for name, id := range convIDSeeds {
		out["FuzzConvID"][seedPrefix+name] = corpusFile(id)
	}
	return out
}

var convIDSeeds = map[string]string{
	"p2p":           P2PID(vAlice, vBob),
	"p2p-reversed":  "p:bob:alice",
	"p2p-self":      "p:alice:alice",
	"p2p-three":     "p:alice:bob:carol",
	"p2p-max":       P2PID(strings.Repeat("a", MaxNameBytes), strings.Repeat("b", MaxNameBytes)),
	"group":         vGroup,
	"group-empty":   "g:",
	"group-nested":  "g:p:alice:bob",
	"group-unicode": "g:équipe",
	"no-prefix":     "alice",
}

func TestVectors(t *testing.T) {
	valid, invalid := marshalVectors(t)
	checkGolden(t, filepath.Join(vectorsDir, validFile), valid)
	checkGolden(t, filepath.Join(vectorsDir, invalidFile), invalid)

	for target, files := range seedCorpora() {
		dir := filepath.Join("testdata", "fuzz", target)
		if *update {
			old, _ := filepath.Glob(filepath.Join(dir, seedPrefix+"*"))
			for _, f := range old {
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
			}
		}
		for name, content := range files {
			checkGolden(t, filepath.Join(dir, name), content)
		}
		if !*update {
			have, _ := filepath.Glob(filepath.Join(dir, seedPrefix+"*"))
			for _, f := range have {
				if _, ok := files[filepath.Base(f)]; !ok {
					t.Errorf("%s is a stale seed; run go test ./proto -run TestVectors -update", f)
				}
			}
		}
	}

	// From here on the checks read only the files, as the TypeScript tests do.
	t.Run("valid", func(t *testing.T) {
		var vs []validVectorJSON
		readJSON(t, validFile, &vs)
		seen := map[Type]bool{}
		for _, v := range vs {
			b, err := hex.DecodeString(v.Hex)
			if err != nil {
				t.Fatalf("%s: %v", v.Name, err)
			}
			f, err := Decode(b, 0)
			if err != nil {
				t.Errorf("%s: decode: %v", v.Name, err)
				continue
			}
			seen[f.Type] = true
			equal(t, v.Name+": type", f.Type.String(), v.Type)
			var want bytes.Buffer
			if err := json.Compact(&want, v.Frame); err != nil {
				t.Fatalf("%s: %v", v.Name, err)
			}
			equal(t, v.Name+": frame", renderJSON(f), want.String())
			again, err := Encode(f)
			if err != nil {
				t.Errorf("%s: re-encode: %v", v.Name, err)
				continue
			}
			equal(t, v.Name+": re-encoded hex", hex.EncodeToString(again), v.Hex)
		}
		for typ := Type(1); ; typ++ {
			if _, ok := NewBody(typ); !ok {
				break
			}
			if !seen[typ] {
				t.Errorf("no vector for frame type %d (%s)", typ, typ)
			}
		}
	})

	t.Run("invalid", func(t *testing.T) {
		var vs []invalidVectorJSON
		readJSON(t, invalidFile, &vs)
		names := map[string]bool{}
		for _, v := range vs {
			if names[v.Name] {
				t.Errorf("duplicate vector name %q", v.Name)
			}
			names[v.Name] = true
			b, err := hex.DecodeString(v.Hex)
			if err != nil {
				t.Fatalf("%s: %v", v.Name, err)
			}
			f, err := Decode(b, 0)
			if err == nil {
				t.Errorf("%s: decoded to %s, want code %d", v.Name, renderJSON(f), v.Code)
				continue
			}
			equal(t, v.Name+": code", codeOf(err), v.Code)
		}
	})
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func ptr[T any](v T) *T { return &v }

package relay

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

var _ Store = (*MemoryStore)(nil)

// MemoryStore is a Store in process memory with the same semantics as the
// SQLite store: the same change positions, sync keys and pages. It is for
// tests and throwaway relays: everything is lost with the process, and a new
// epoch says so to clients. Its Sync walks the user's conversations.
type MemoryStore struct {
	mu       sync.RWMutex
	epoch    string
	counter  uint64    // store-wide change counter
	pos      positions // how counter moves (SetPartition)
	convs    map[string]*memConv
	byClient map[clientKey]msgRef
	users    map[string][]*memConv // the conversations of each user
	feed     memFeed               // store_feed_memory.go
	closed   bool
	scanned  atomic.Uint64              // messages History examined (see messagesRead)
	revoked  map[string]int64           // RevokeTokens (store_revoke.go)
	deleted  map[string]int64           // RecordDeletion (store_revoke.go)
	bans     map[string]Ban             // SetBan (store_ban.go)
	uploads  map[string]map[string]bool // AddUploads (store_uploads.go): user → upload ids
	presence memPresence                // store_memory_presence.go
	releases map[string]string          // token → attachment id (store_blob_release.go)
}

// messagesRead returns how many messages History examined, for the test
// that paging costs linear work.
func (s *MemoryStore) messagesRead() uint64 { return s.scanned.Load() }

type clientKey struct{ sender, clientID string }

type msgRef struct {
	conv string
	seq  uint64
}

type memConv struct {
	id, kind, name, creator string
	createdAt               int64
	msgs                    []proto.Message // msgs[i].Seq == i+1
	members                 map[string]*memMember
	memberList              []string // sorted, current members only
	pos, membersPos         uint64   // see syncCand
	info                    rules.GroupInfo
	pending                 map[string]proto.GroupNotice
}

// memMember is a member row. A former member keeps it with left, the last
// seq they may read (see group.go).
type memMember struct {
	readSeq, pos uint64
	left         uint64
	from         uint64      // the first seq of the latest membership; 0: the group's start
	past         rules.Spans // earlier memberships, closed (group_spans.go)
	rules.GroupMember
}

// spans returns what member m of c may read.
func (c *memConv) spans(m *memMember) rules.Spans {
	if c.kind != proto.KindGroup {
		return rules.AllSeqs
	}
	return memberSpans(m.past, m.from, m.left)
}

// isMember reports whether user is a current member of c.
func (c *memConv) isMember(user string) bool {
	m := c.members[user]
	return m != nil && m.left == 0
}

// NewMemoryStore returns an empty MemoryStore with a fresh epoch.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		epoch:    randomHex(8),
		convs:    make(map[string]*memConv),
		byClient: make(map[clientKey]msgRef),
		users:    make(map[string][]*memConv),
	}
}

// Epoch implements Lifecycle.
func (s *MemoryStore) Epoch() string { return s.epoch }

// Ping implements Lifecycle.
func (s *MemoryStore) Ping(context.Context) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// Close implements Lifecycle.
func (s *MemoryStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	return nil
}

// Append implements Appender.
func (s *MemoryStore) Append(ctx context.Context, batch []AppendRequest) ([]AppendResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]AppendResult, len(batch))
	for i := range batch {
		out[i] = s.appendOne(&batch[i])
	}
	return out, nil
}

func (s *MemoryStore) appendOne(req *AppendRequest) AppendResult {
	send := &req.Send
	if ref, ok := s.byClient[clientKey{req.Sender, send.ClientID}]; ok {
		if err := rules.DedupOutcome(send.ConvID, ref.conv); err != nil {
			return AppendResult{Err: err}
		}
		return AppendResult{Message: s.convs[ref.conv].msgs[ref.seq-1], Duplicate: true}
	}
	c := s.convs[send.ConvID]
	isMember := c != nil && c.isMember(req.Sender)
	create, err := rules.AdmitSend(req.Sender, send.ConvID, c != nil, isMember)
	if err != nil {
		return AppendResult{Err: err}
	}
	if c != nil && c.kind == proto.KindGroup && req.Sender != proto.SystemUser { // the admin API's system messages are never muted
		m := c.members[req.Sender]
		if err := rules.AdmitSpeech(m.Role, m.MutedUntil, c.info.MuteAll, req.CreatedAt); err != nil {
			return AppendResult{Err: err}
		}
	}
	if perr := s.admitLifecycle(c, req); perr != nil {
		return AppendResult{Err: perr}
	}
	if create != nil {
		c = s.newConv(send.ConvID, proto.KindP2P, "", req.Sender, req.CreatedAt, create)
	}
	m := proto.Message{
		ConvID: send.ConvID, Seq: uint64(len(c.msgs)) + 1, Sender: req.Sender, ClientID: send.ClientID,
		MsgType: send.MsgType, Text: send.Text, Body: slices.Clone(send.Body), CreatedAt: req.CreatedAt,
		Device: req.Device, ReplyTo: send.ReplyTo, Mentions: slices.Clone(send.Mentions), Target: req.Target,
	}
	c.msgs = append(c.msgs, m)
	released := s.applyLifecycle(c, &m, req.Release)
	if mm := c.members[req.Sender]; mm != nil { // not for the admin API's system messages
		mm.readSeq = m.Seq // what a user sent, they have read
	}
	s.byClient[clientKey{req.Sender, send.ClientID}] = msgRef{c.id, m.Seq}
	c.pos = s.nextPos()
	return AppendResult{Message: m, Members: c.memberList, Released: released}
}

// newConv creates a conversation with members; its position is set by the
// caller's change.
func (s *MemoryStore) newConv(id, kind, name, creator string, createdAt int64, members []string) *memConv {
	c := &memConv{
		id: id, kind: kind, name: name, creator: creator, createdAt: createdAt,
		members: make(map[string]*memMember, len(members)), memberList: slices.Clone(members),
	}
	for _, u := range members {
		c.members[u] = &memMember{GroupMember: rules.GroupMember{Role: proto.RoleMember, JoinedAt: createdAt}}
		s.users[u] = append(s.users[u], c)
	}
	s.convs[id] = c
	return c
}

// view is user's view of c as of its latest change, with the member list of
// a group.
func (s *MemoryStore) view(c *memConv, user string) proto.Conversation {
	m := c.members[user]
	var last *proto.Message
	n, pos, members := uint64(len(c.msgs)), max(c.pos, m.pos), slices.Clone(c.memberList)
	if m.left > 0 {
		// A former member sees the group as of the message that ended
		// the membership.
		n, pos, members = m.left, m.pos, nil
	}
	if n > 0 {
		msg := c.msgs[n-1]
		last = &msg
	}
	v := convView(c.id, c.kind, c.name, c.createdAt, n, min(m.readSeq, n), pos, members, last)
	gm := m.GroupMember
	if m.left > 0 {
		gm = rules.GroupMember{}
	}
	groupView(&v, c.info, gm)
	v.PeerReadSeq = c.peerRead(user)
	return v
}

// Sync implements Querier.
func (s *MemoryStore) Sync(ctx context.Context, user string, cursor uint64, limit int) ([]proto.Conversation, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, false, ErrClosed
	}
	type found struct {
		c    *memConv
		cand syncCand
	}
	var all []found
	for _, c := range s.users[user] {
		m := c.members[user]
		f := found{c, syncCand{kind: c.kind, convPos: c.pos, membersPos: c.membersPos,
			userPos: m.pos, memberCount: len(c.memberList)}}
		n := len(c.msgs)
		if m.left > 0 {
			f.cand.convPos, f.cand.membersPos, n = 0, 0, int(m.left)
		}
		if n > 0 {
			f.cand.cost = messageCost(len(c.msgs[n-1].Text), len(c.msgs[n-1].Body))
		}
		if f.cand.latest() > cursor {
			all = append(all, f)
		}
	}
	slices.SortFunc(all, func(a, b found) int { return cmp.Compare(a.cand.key(cursor), b.cand.key(cursor)) })
	p := syncPager{cursor: cursor, limit: limit}
	var out []proto.Conversation
	for _, f := range all {
		if !p.add(&f.cand) {
			break
		}
		c := s.view(f.c, user)
		c.Version = f.cand.key(cursor)
		if !f.cand.withMembers(cursor) {
			c.Members = nil
		}
		out = append(out, c)
	}
	return out, p.more(), nil
}

// Members implements Querier.
func (s *MemoryStore) Members(ctx context.Context, conv string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	if c := s.convs[conv]; c != nil {
		return slices.Clone(c.memberList), nil
	}
	return nil, nil
}

// History implements Querier.
func (s *MemoryStore) History(ctx context.Context, user string, q proto.History) (proto.HistoryPage, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return proto.HistoryPage{}, ErrClosed
	}
	page := proto.HistoryPage{ConvID: q.ConvID, Messages: []proto.Message{}}
	c := s.convs[q.ConvID]
	var m *memMember
	if c != nil {
		m = c.members[user]
	}
	empty, err := rules.AdmitRead(user, q.ConvID, c != nil, m != nil)
	if err != nil {
		return page, err
	}
	if empty {
		return page, nil
	}
	spans := c.spans(m)
	return spanPage(q, spans, spans.Last(uint64(len(c.msgs))), func(from, to uint64, desc bool, n int, take func(proto.Message) bool) (bool, error) {
		for i := 0; i < n && from <= to; i++ {
			seq := from + uint64(i)
			if desc {
				seq = to - uint64(i)
			}
			if seq < from || seq > to {
				break
			}
			s.scanned.Add(1)
			if !take(c.msgs[seq-1]) {
				break
			}
		}
		return false, nil
	})
}

// MarkReads implements ConvWriter.
func (s *MemoryStore) MarkReads(ctx context.Context, marks []ReadMark) ([]ReadResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	out := make([]ReadResult, len(marks))
	for i, mk := range marks {
		out[i] = s.markRead(mk)
	}
	return out, nil
}

// markRead applies one mark; the caller holds s.mu.
func (s *MemoryStore) markRead(mk ReadMark) ReadResult {
	c := s.convs[mk.Conv]
	var m *memMember
	if c != nil {
		m = c.members[mk.User]
	}
	empty, perr := rules.AdmitRead(mk.User, mk.Conv, c != nil, m != nil)
	if perr != nil {
		return ReadResult{Err: perr}
	}
	if empty {
		return ReadResult{Conv: proto.Conversation{ID: mk.Conv, Kind: proto.KindP2P}}
	}
	last := uint64(len(c.msgs))
	if m.left > 0 {
		last = m.left
	}
	next := rules.NextReadSeq(m.readSeq, mk.Seq, last)
	if next == m.readSeq {
		return ReadResult{Conv: s.view(c, mk.User)}
	}
	m.readSeq = next
	m.pos = s.nextPos()
	if c.kind == proto.KindP2P {
		c.pos = s.counter // the peer's view changes too: peerReadSeq
	}
	return ReadResult{Conv: s.view(c, mk.User), Moved: true}
}

// GroupsCreated implements GroupCounter.
func (s *MemoryStore) GroupsCreated(_ context.Context, creator string, since int64) (total, recent int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, 0, ErrClosed
	}
	for _, c := range s.convs {
		if c.kind == proto.KindGroup && c.creator == creator {
			total++
			if c.createdAt >= since {
				recent++
			}
		}
	}
	return total, recent, nil
}

// CreateGroup implements ConvWriter.
func (s *MemoryStore) CreateGroup(ctx context.Context, spec GroupSpec) (proto.Conversation, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return proto.Conversation{}, false, ErrClosed
	}
	if c := s.convs[spec.ID]; c != nil {
		if err := rules.SameGroup(c.kind, c.creator, c.memberList, spec); err != nil {
			return proto.Conversation{}, false, err
		}
		return s.view(c, spec.Creator), false, nil
	}
	if ref, ok := s.byClient[clientKey{spec.Creator, createdClientID(spec.ID)}]; ok && spec.Announce {
		// As the SQL stores' unique index: the group is not created.
		return proto.Conversation{}, false, rules.DedupOutcome(spec.ID, ref.conv)
	}
	c := s.newConv(spec.ID, proto.KindGroup, spec.Name, spec.Creator, spec.CreatedAt, spec.Members)
	c.members[spec.Creator].Role = proto.RoleOwner
	c.info = spec.Info
	if spec.Announce { // group_created.go
		m := createdMessage(spec)
		c.msgs = append(c.msgs, m)
		c.members[spec.Creator].readSeq = m.Seq
		s.byClient[clientKey{m.Sender, m.ClientID}] = msgRef{c.id, m.Seq}
	}
	c.pos = s.nextPos()
	c.membersPos = c.pos
	return s.view(c, spec.Creator), true, nil
}

//go:build !js

package relay

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

// TestReleaseSweptAtStart: a relay that stops after storing a recall and
// before deleting the attachment's blob leaves a release record; the next
// relay on the same store deletes the blob when it starts and drops the
// record. A record whose attachment another message still carries (its
// uploader sent it twice) keeps the blob.
func TestReleaseSweptAtStart(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			dir, dsn := t.TempDir(), ""
			if store == "postgres" {
				dsn = postgresDSN(t)
			}
			openStore := func() Store {
				if store == "sqlite" {
					s, err := OpenSQLite(dir, SQLiteOptions{})
					ok(t, err)
					return s
				}
				return openPostgres(t, dsn, PostgresOptions{MaxConns: 4})
			}
			blobs := NewMemoryBlobStore()
			ctx := context.Background()
			r := startRelay(t, func(o *Options) { o.Blobs, o.Store = blobs, openStore() })
			r.srv.env.holdReleases.Store(true) // as if the relay stopped right after the recall
			alice, _ := login(t, r, "alice", "d")
			p2p := proto.P2PID("alice", "bob")
			var ids []string
			for _, client := range []string{"img1", "img2"} {
				ids = append(ids, sendImage(t, r, alice, p2p, client, ""))
			}
			// The second attachment is sent again, to carol.
			sendImage(t, r, alice, proto.P2PID("alice", "carol"), "img2-carol", ids[1])
			for _, target := range []uint64{1, 2} {
				f := alice.call(proto.TypeAmend, &proto.Amend{ConvID: p2p, ClientID: fmt.Sprint("r", target), Op: proto.MsgRecall, Target: target})
				equal(t, f.Type, proto.TypeAck, "recall")
			}
			left, err := r.srv.store.(BlobReleaser).BlobReleases(ctx)
			ok(t, err)
			equal(t, left, map[string]string{proto.MessageID(p2p, 3): ids[0], proto.MessageID(p2p, 4): ids[1]}, "records after the recalls")
			_, err = blobs.Stat(ctx, uploadKey(ids[0]))
			ok(t, err)
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			ok(t, r.srv.Shutdown(sctx))

			r2 := startRelay(t, func(o *Options) { o.Blobs, o.Store = blobs, openStore() })
			eventually(t, "the recalled attachment's blob deleted at start", func() bool {
				_, err := blobs.Stat(ctx, uploadKey(ids[0]))
				return errors.Is(err, ErrBlobNotFound)
			})
			eventually(t, "the records dropped", func() bool {
				left, err := r2.srv.store.(BlobReleaser).BlobReleases(ctx)
				return err == nil && len(left) == 0
			})
			_, err = blobs.Stat(ctx, uploadKey(ids[1]))
			ok(t, err)
			got := r2.download(r2.token("bob"), ids[0], p2p, "")
			equal(t, [2]any{got.status, got.code}, [2]any{410, proto.CodeAttachmentGone}, "download after the sweep")
		})
	}
}

// sendImage sends an image message from c, alice's client, into conv and
// returns its attachment id: id, or a new upload of alice's for "".
func sendImage(t *testing.T, r *testRelay, c *client, conv, clientID, id string) string {
	t.Helper()
	if id == "" {
		up := r.upload(httpUpload{token: r.token("alice"), mime: "image/png", body: bytes.NewReader(make([]byte, 500)), length: 500})
		equal(t, up.status, 201, "upload")
		id = up.id
	}
	f := c.call(proto.TypeSend, &proto.Send{ConvID: conv, ClientID: clientID, MsgType: proto.MsgImage,
		Attachment: &proto.Attachment{ID: id, Name: "x.png", Size: 500, Mime: "image/png"}})
	equal(t, f.Type, proto.TypeAck, "send "+clientID)
	return id
}

// TestReleaseOnlyWithItsRecall: a recall that is not stored leaves no
// release record and keeps the blob — one the store refuses (not the
// sender's), and, on the SQL stores, one whose transaction fails after the
// record was written (a fault injected at commit) — while the message
// still carries the attachment; the same recall stored afterwards deletes
// it.
func TestReleaseOnlyWithItsRecall(t *testing.T) {
	for _, store := range []string{"memory", "sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir, dsn := t.TempDir(), ""
			var st Store
			switch store {
			case "memory":
				st = NewMemoryStore()
			case "sqlite":
				s, err := OpenSQLite(dir, SQLiteOptions{})
				ok(t, err)
				st = s
			case "postgres":
				dsn = postgresDSN(t)
				st = openPostgres(t, dsn, PostgresOptions{MaxConns: 4})
			}
			blobs := NewMemoryBlobStore()
			r := startRelay(t, func(o *Options) { o.Blobs, o.Store = blobs, st })
			alice, _ := login(t, r, "alice", "d")
			bob, _ := login(t, r, "bob", "d")
			p2p := proto.P2PID("alice", "bob")
			id := sendImage(t, r, alice, p2p, "img", "")
			noRecords := func(what string) {
				t.Helper()
				left, err := st.(BlobReleaser).BlobReleases(ctx)
				ok(t, err)
				equal(t, left, map[string]string{}, "records after "+what)
				_, err = blobs.Stat(ctx, uploadKey(id))
				ok(t, err)
			}

			f := bob.call(proto.TypeAmend, &proto.Amend{ConvID: p2p, ClientID: "r-bob", Op: proto.MsgRecall, Target: 1})
			equal(t, errCode(t, f), proto.CodeNotSender, "bob's recall of alice's message")
			noRecords("a refused recall")

			if store != "memory" { // the memory store's Append cannot fail once it has begun
				heal := injectCommitFault(t, store, dir, dsn)
				f = alice.call(proto.TypeAmend, &proto.Amend{ConvID: p2p, ClientID: "r1", Op: proto.MsgRecall, Target: 1})
				equal(t, f.Type, proto.TypeError, "recall while the store fails")
				heal()
				noRecords("a failed recall")
				r.srv.env.sweepReleases()() // what a relay starting now would do
				noRecords("a sweep")
				alice, _ = login(t, r, "alice", "d2") // the failure closed the connection
			}
			page, err := st.History(ctx, "bob", proto.History{ConvID: p2p, After: 0, Limit: 1})
			ok(t, err)
			if len(page.Messages) != 1 || page.Messages[0].Recalled || !carries(page.Messages[0].Body, id) {
				t.Fatalf("the message after the recalls not stored: %+v", page.Messages)
			}

			f = alice.call(proto.TypeAmend, &proto.Amend{ConvID: p2p, ClientID: "r1", Op: proto.MsgRecall, Target: 1})
			equal(t, f.Type, proto.TypeAck, "recall")
			eventually(t, "the blob deleted and its record dropped", func() bool {
				_, err := blobs.Stat(ctx, uploadKey(id))
				left, lerr := st.(BlobReleaser).BlobReleases(ctx)
				return errors.Is(err, ErrBlobNotFound) && lerr == nil && len(left) == 0
			})
		})
	}
}

// injectCommitFault makes every write transaction of the SQLite store in
// dir, or of the PostgreSQL store at dsn, fail after its statements ran:
// SQLite's when it writes a conversation's row, its last statement;
// PostgreSQL's at commit (a deferred trigger). The returned function heals
// the store.
func injectCommitFault(t *testing.T, store, dir, dsn string) (heal func()) {
	t.Helper()
	ctx := context.Background()
	if store == "sqlite" {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "parley.db")+"?_pragma=busy_timeout(10000)")
		ok(t, err)
		t.Cleanup(func() { db.Close() })
		_, err = db.ExecContext(ctx, `CREATE TRIGGER fault BEFORE UPDATE ON conversations BEGIN SELECT RAISE(ABORT, 'injected fault'); END`)
		ok(t, err)
		return func() {
			_, err := db.ExecContext(ctx, `DROP TRIGGER fault`)
			ok(t, err)
		}
	}
	conn := pgAdmin(t, dsn)
	_, err := conn.Exec(ctx, `CREATE FUNCTION fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$`)
	ok(t, err)
	_, err = conn.Exec(ctx, `CREATE CONSTRAINT TRIGGER fault AFTER INSERT ON messages DEFERRABLE INITIALLY DEFERRED
		FOR EACH ROW EXECUTE FUNCTION fault()`)
	ok(t, err)
	return func() {
		_, err := conn.Exec(ctx, `DROP TRIGGER fault ON messages`)
		ok(t, err)
	}
}

// TestReleaseSweepRacingRecall: a relay starting (and sweeping the release
// records) while another relay on the same PostgreSQL store is storing a
// recall does not lose that recall's record: the record is written with
// the recall, so when the recalling relay stops before deleting the blob,
// the next sweep deletes it.
func TestReleaseSweepRacingRecall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := postgresDSN(t)
	blobs := NewMemoryBlobStore()
	a := startRelay(t, func(o *Options) {
		o.Blobs, o.Store = blobs, openPostgres(t, dsn, PostgresOptions{MaxConns: 4})
	})
	a.srv.env.holdReleases.Store(true) // a stops right after storing the recall
	alice, _ := login(t, a, "alice", "d")
	p2p := proto.P2PID("alice", "bob")
	id := sendImage(t, a, alice, p2p, "img", "")

	// Hold the conversation's lock, so the recall waits inside its
	// transaction.
	lock := pgAdmin(t, dsn)
	tx, err := lock.Begin(ctx)
	ok(t, err)
	_, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, a.srv.store.(*PostgresStore).convKey(p2p))
	ok(t, err)
	recall := alice.request(proto.TypeAmend, &proto.Amend{ConvID: p2p, ClientID: "r1", Op: proto.MsgRecall, Target: 1})
	eventually(t, "the recall waiting for the lock", func() bool {
		var waiting int
		err := lock.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&waiting)
		return err == nil && waiting > 0
	})
	b := startRelay(t, func(o *Options) {
		o.Blobs, o.Store = blobs, openPostgres(t, dsn, PostgresOptions{MaxConns: 4})
	})
	b.srv.env.sweepReleases()() // as b does when it starts, finished now
	ok(t, tx.Rollback(ctx))
	equal(t, alice.reply(recall).Type, proto.TypeAck, "recall")
	_, err = blobs.Stat(ctx, uploadKey(id))
	ok(t, err)

	b.srv.env.sweepReleases()() // the next start
	_, err = blobs.Stat(ctx, uploadKey(id))
	if !errors.Is(err, ErrBlobNotFound) {
		t.Fatalf("the recalled attachment's blob after the next sweep: %v, want it deleted", err)
	}
	left, err := b.srv.store.(BlobReleaser).BlobReleases(ctx)
	ok(t, err)
	equal(t, left, map[string]string{}, "records after the next sweep")
}

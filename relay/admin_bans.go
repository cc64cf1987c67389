package relay

import (
	"net/http"
	"time"

	"github.com/parley-im/parley/proto"
)

// Bans (PUT, GET and DELETE /admin/v1/users/{user}/ban): a banned user
// cannot sign in, with any token on any device, until the ban ends or is
// lifted. Banning closes the user's sessions on every relay with 4004 and
// the ban's reason, which the SDK treats as final (it emits kicked and
// does not reconnect); each later hello is refused the same way. A ban is
// kept in the store (store_ban.go), so every relay on the database and
// every restart sees it; it ends by the relay's clock, with nothing to
// sweep.

// adminBan bans a user. Until is unix seconds, 0 (or absent) for a ban
// until lifted; Reason is shown to the user's devices.
type adminBan struct {
	Until  int64  `json:"until,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// maxBanUntil bounds a ban's end below the year 10000: a time in
// milliseconds taken for seconds is refused rather than kept as forever.
const maxBanUntil = 253402300799

// adminBanReply says whether a user is banned, and if so since when, until
// when and why.
type adminBanReply struct {
	User   string `json:"user"`
	Banned bool   `json:"banned"`
	At     int64  `json:"at,omitempty"`    // unix seconds the ban was made
	Until  int64  `json:"until,omitempty"` // unix seconds it ends; absent: until lifted
	Reason string `json:"reason,omitempty"`
}

// adminBanTarget reads the {user} of a ban route and the store's bans.
func (s *Server) adminBanTarget(r *http.Request) (string, Banner, *proto.Error) {
	user, perr := adminUser(r)
	if perr != nil {
		return "", nil, perr
	}
	if user == proto.SystemUser {
		return "", nil, proto.Errorf(proto.CodeBadRequest, "user %q is reserved", user)
	}
	bn, isBanner := s.store.(Banner)
	if !isBanner {
		return "", nil, proto.Errorf(proto.CodeNotSupported, "this relay's store keeps no bans")
	}
	return user, bn, nil
}

func (s *Server) adminSetBan(r *http.Request, body any) (int, any, error) {
	user, bn, perr := s.adminBanTarget(r)
	if perr != nil {
		return 0, nil, perr
	}
	b := body.(*adminBan)
	now := time.Now()
	if b.Until != 0 && (b.Until <= now.Unix() || b.Until > maxBanUntil) {
		return 0, nil, proto.Errorf(proto.CodeBadRequest, "until: %d is not a unix time in seconds in the future", b.Until)
	}
	if len(b.Reason) > proto.MaxReasonBytes {
		return 0, nil, proto.Errorf(proto.CodeBadRequest, "reason above %d bytes", proto.MaxReasonBytes)
	}
	ban := Ban{At: now.Unix(), Until: b.Until, Reason: b.Reason}
	if err := bn.SetBan(r.Context(), user, ban); err != nil {
		return 0, nil, err
	}
	// Stored first: a session that opens while this goes round the relays
	// has its hello checked against the ban.
	s.ctl.closeUser(user, "", proto.CodeBanned, banReason(ban))
	s.log.Info("user banned", "user", user, "until", ban.Until)
	return http.StatusOK, banReply(user, ban), nil
}

func (s *Server) adminGetBan(r *http.Request, _ any) (int, any, error) {
	user, bn, perr := s.adminBanTarget(r)
	if perr != nil {
		return 0, nil, perr
	}
	b, found, err := bn.BanOf(r.Context(), user)
	if err != nil {
		return 0, nil, err
	}
	if !found || !b.Holds(time.Now()) {
		return http.StatusOK, adminBanReply{User: user}, nil
	}
	return http.StatusOK, banReply(user, b), nil
}

func (s *Server) adminLiftBan(r *http.Request, _ any) (int, any, error) {
	user, bn, perr := s.adminBanTarget(r)
	if perr != nil {
		return 0, nil, perr
	}
	if err := bn.LiftBan(r.Context(), user); err != nil {
		return 0, nil, err
	}
	s.log.Info("user ban lifted", "user", user)
	return http.StatusOK, adminBanReply{User: user}, nil
}

func banReply(user string, b Ban) adminBanReply {
	return adminBanReply{User: user, Banned: true, At: b.At, Until: b.Until, Reason: b.Reason}
}

package proto

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// docs/protocol.md is written by hand except for the blocks between
// <!-- BEGIN GENERATED: x --> and <!-- END GENERATED: x --> markers, which
// TestProtocolDoc renders from this package (struct fields and tags, the
// comments in frame.go and codes.go, Codes(), the limit constants) and holds
// the document to. `go test ./proto -run TestProtocolDoc -update` rewrites
// them.

const protocolDoc = "../docs/protocol.md"

func TestProtocolDoc(t *testing.T) {
	doc, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatal(err)
	}
	blocks := []struct{ name, text string }{
		{"cddl", renderCDDL(t)},
		{"limits", renderLimits()},
		{"code-ranges", renderCodeRanges()},
		{"codes", renderCodes(t)},
	}
	out := string(doc)
	for _, b := range blocks {
		begin := "<!-- BEGIN GENERATED: " + b.name + " -->\n"
		end := "<!-- END GENERATED: " + b.name + " -->"
		i := strings.Index(out, begin)
		j := strings.Index(out, end)
		if i < 0 || j < i {
			t.Fatalf("%s: markers for %q missing", protocolDoc, b.name)
		}
		if got := out[i+len(begin) : j]; got != b.text {
			if !*update {
				t.Errorf("%s: block %q drifted from the Go source; run go test ./proto -run TestProtocolDoc -update and review the diff",
					protocolDoc, b.name)
			}
			out = out[:i+len(begin)] + b.text + out[j:]
		}
	}
	if *update && out != string(doc) {
		if err := os.WriteFile(protocolDoc, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// CDDL (RFC 8610) of every frame, from the Go types.

// cddlTypes name the CDDL type of fields whose Go type says less than the
// protocol does. TestProtocolDoc fails on a key that names no field.
var cddlTypes = map[string]string{
	"Hello.DeviceID":         "name",
	"Contact.User":           "name",
	"Relation.User":          "name",
	"ConvSetting.ConvID":     "conv-id",
	"SetConv.ConvID":         "conv-id",
	"HideMessage.ConvID":     "conv-id",
	"Welcome.UserID":         "name",
	"Send.ConvID":            "conv-id",
	"Send.ClientID":          "name",
	"Send.MsgType":           "msg-type",
	"Ack.ConvID":             "conv-id",
	"Ack.ClientID":           "name",
	"Message.ConvID":         "conv-id",
	"Message.Sender":         "name",
	"Message.ClientID":       "name",
	"Message.MsgType":        "msg-type",
	"Message.Device":         "name",
	"Conversation.ID":        "conv-id",
	"Conversation.Kind":      "kind",
	"Conversation.Members":   "[* name]",
	"History.ConvID":         "conv-id",
	"HistoryPage.ConvID":     "conv-id",
	"Read.ConvID":            "conv-id",
	"CreateGroup.ConvID":     "group-id",
	"CreateGroup.Name":       "tstr .size (0.." + strconv.Itoa(MaxGroupNameBytes) + ")",
	"CreateGroup.Members":    "[* name]",
	"Send.Text":              "tstr .size (0.." + strconv.Itoa(MaxTextBytes) + ")",
	"Send.Body":              "bstr .size (0.." + strconv.Itoa(MaxBodyBytes) + ")",
	"Welcome.Version":        "version",
	"Hello.Version":          "version",
	"Conversation.LastSeq":   "seq",
	"Conversation.ReadSeq":   "seq",
	"Message.Seq":            "seq",
	"Ack.Seq":                "seq",
	"Read.Seq":               "seq",
	"History.After":          "seq",
	"History.Before":         "seq",
	"HistoryPage.LastSeq":    "seq",
	"Conversation.Version":   "cursor",
	"Sync.Cursor":            "cursor",
	"SyncResult.Cursor":      "cursor",
	"Welcome.ServerTime":     "unix-ms",
	"Ack.CreatedAt":          "unix-ms",
	"Message.CreatedAt":      "unix-ms",
	"Conversation.CreatedAt": "unix-ms",
}

// fieldComments maps "Struct.Field" to the field's line comment in frame.go
// and "Struct" to the first sentence of the type's doc comment.
func fieldComments(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "frame.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.TYPE {
			continue
		}
		for _, spec := range gen.Specs {
			ts := spec.(*ast.TypeSpec)
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			if doc := strings.Join(strings.Fields(gen.Doc.Text()), " "); doc != "" {
				first, _, _ := strings.Cut(doc, ". ")
				out[ts.Name.Name] = strings.TrimSuffix(first, ".") + "."
			}
			for _, f := range st.Fields.List {
				for _, n := range f.Names {
					out[ts.Name.Name+"."+n.Name] = strings.TrimSpace(f.Comment.Text())
				}
			}
		}
	}
	return out
}

var camel = regexp.MustCompile(`([a-z0-9])([A-Z])`)

// ruleName is the CDDL rule of a body struct: CreateGroup → create-group.
func ruleName(t reflect.Type) string {
	return strings.ToLower(camel.ReplaceAllString(t.Name(), "$1-$2"))
}

func cddlType(t reflect.Type) string {
	if t == reflect.TypeFor[Code]() {
		return "code"
	}
	switch t.Kind() {
	case reflect.Uint8:
		return "u8"
	case reflect.Uint16:
		return "u16"
	case reflect.Uint32:
		return "u32"
	case reflect.Uint64:
		return "u64"
	case reflect.Int64:
		return "i64"
	case reflect.String:
		return "tstr"
	case reflect.Bool:
		return "bool"
	case reflect.Pointer:
		return cddlType(t.Elem())
	case reflect.Struct:
		return ruleName(t)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "bstr"
		}
		return "[* " + cddlType(t.Elem()) + "]"
	}
	panic("cddlType: " + t.String())
}

func renderCDDL(t *testing.T) string {
	t.Helper()
	comments := fieldComments(t)
	used := map[string]bool{}
	var types []Type
	for n := 1; n < 256; n++ { // the numbers in use, with gaps reserved between them
		typ := Type(n)
		if _, ok := NewBody(typ); ok {
			types = append(types, typ)
		}
	}

	var b strings.Builder
	b.WriteString("```cddl\n")
	b.WriteString("; One WebSocket binary message. Keys are unsigned integers; the body's\n")
	b.WriteString("; schema is fixed by the type (key 1); ok has no body.\n")
	var alts []string
	for _, typ := range types {
		alts = append(alts, typ.String()+"-frame")
	}
	fmt.Fprintf(&b, "frame = %s\n\n", wrapChoices(alts, len("frame = ")))
	width := 0
	for _, typ := range types {
		width = max(width, len(typ.String()+"-frame"))
	}
	var bodies []reflect.Type
	seen := map[reflect.Type]bool{}
	for _, typ := range types {
		body, _ := NewBody(typ)
		name := typ.String() + "-frame"
		if body == nil {
			fmt.Fprintf(&b, "%-*s = { 1: %d, ? 2: request-id }\n", width, name, typ)
			continue
		}
		bt := reflect.TypeOf(body).Elem()
		fmt.Fprintf(&b, "%-*s = { 1: %d, ? 2: request-id, 3: %s }\n", width, name, typ, ruleName(bt))
		bodies = append(bodies, bt)
	}
	// Bodies in frame order, then the structs they contain.
	for i := 0; i < len(bodies); i++ {
		for _, f := range reflect.VisibleFields(bodies[i]) {
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && !seen[ft] && !containsType(bodies, ft) {
				seen[ft] = true
				bodies = append(bodies, ft)
			}
		}
	}
	for _, bt := range bodies {
		b.WriteString("\n")
		if c := comments[bt.Name()]; c != "" {
			fmt.Fprintf(&b, "; %s\n", c)
		}
		fmt.Fprintf(&b, "%s = {\n", ruleName(bt))
		type line struct{ entry, comment string }
		var lines []line
		for i := range bt.NumField() {
			f := bt.Field(i)
			tag := strings.Split(f.Tag.Get("cbor"), ",")
			optional := ""
			if strings.Contains(f.Tag.Get("cbor"), "omitempty") {
				optional = "? "
			}
			key := bt.Name() + "." + f.Name
			typ := cddlType(f.Type)
			if o, ok := cddlTypes[key]; ok {
				typ, used[key] = o, true
			}
			comment := f.Name
			if c := comments[key]; c != "" {
				comment += ": " + c
			}
			lines = append(lines, line{fmt.Sprintf("%s%s: %s,", optional, tag[0], typ), comment})
		}
		w := 0
		for _, l := range lines {
			w = max(w, len(l.entry))
		}
		for _, l := range lines {
			fmt.Fprintf(&b, "  %-*s ; %s\n", w, l.entry, l.comment)
		}
		b.WriteString("}\n")
	}
	for key := range cddlTypes {
		if !used[key] {
			t.Errorf("cddlTypes[%q] names no field", key)
		}
	}

	name := fmt.Sprintf("[A-Za-z0-9_.@-]{1,%d}", MaxNameBytes)
	fmt.Fprintf(&b, `
; Shared types.
request-id = u64                ; chosen by the client, echoed on the reply; absent (0) on pushes
version    = u16                ; protocol version, %d..%d in this build
seq        = u64                ; position of a message in its conversation, from 1
cursor     = u64                ; change cursor of the user's conversation list, 0 = from the beginning
unix-ms    = i64                ; milliseconds since 1970-01-01T00:00:00Z
code       = u16                ; see "Codes"
msg-type   = %q / %q
kind       = %q / %q
name       = tstr .regexp "%s"
group-id   = tstr .regexp "%s%s"
p2p-id     = tstr .regexp "p:%s:%s"   ; first name sorts before the second, bytewise
conv-id    = p2p-id / group-id
u8  = uint .size 1
u16 = uint .size 2
u32 = uint .size 4
u64 = uint .size 8
i64 = -9223372036854775808..9223372036854775807
`+"```\n", MinVersion, Version, MsgText, MsgCustom, KindP2P, KindGroup, name, GroupPrefix, name, name, name)
	return b.String()
}

func containsType(list []reflect.Type, t reflect.Type) bool {
	for _, x := range list {
		if x == t {
			return true
		}
	}
	return false
}

// wrapChoices joins alternatives with " / ", wrapping lines at 100 columns.
func wrapChoices(alts []string, indent int) string {
	var b strings.Builder
	col := indent
	for i, a := range alts {
		if i > 0 {
			if col+3+len(a) > 100 {
				b.WriteString("\n" + strings.Repeat(" ", indent-2) + "/ ")
				col = indent
			} else {
				b.WriteString(" / ")
				col += 3
			}
		}
		b.WriteString(a)
		col += len(a)
	}
	return b.String()
}

// Limits.

func renderLimits() string {
	rows := []struct {
		name  string
		value int
		unit  string
		what  string
	}{
		{"DefaultMaxFrame", DefaultMaxFrame, "bytes", "one frame, until `Welcome.MaxFrame` announces the relay's limit"},
		{"MaxTextBytes", MaxTextBytes, "bytes", "`Send.Text`, UTF-8 encoded"},
		{"MaxBodyBytes", MaxBodyBytes, "bytes", "`Send.Body`"},
		{"MaxNameBytes", MaxNameBytes, "bytes", "a user, device or client id (`name`)"},
		{"MaxIDBytes", MaxIDBytes, "bytes", "a group conversation id (p2p ids are two names and may reach 131)"},
		{"MaxGroupNameBytes", MaxGroupNameBytes, "bytes", "`CreateGroup.Name`"},
		{"MaxGroupMembers", MaxGroupMembers, "ids", "`CreateGroup.Members`"},
		{"MaxPageLimit", MaxPageLimit, "items", "messages in a `HistoryPage`, conversations in a `SyncResult`; the relay caps `Limit` to it"},
		{"MaxNestedLevels", MaxNestedLevels, "levels", "nesting of arrays and maps anywhere in a frame, the envelope counting as one"},
		{"MaxArrayElements", MaxArrayElements, "items", "elements of any one array"},
		{"MaxMapPairs", MaxMapPairs, "pairs", "entries of any one map"},
	}
	var b strings.Builder
	b.WriteString("| Constant | Value | Limits |\n|---|---:|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| `%s` | %d %s | %s |\n", r.name, r.value, r.unit, r.what)
	}
	return b.String()
}

// Codes.

// rangeActions say what a client does on a code of each range.
var rangeActions = map[string]string{
	"terminal close":          "Stop: do not reconnect on its own. Report the state with the code; keep the cache and the outbox.",
	"retryable close":         "Reconnect with jittered exponential backoff, then sync.",
	"permanent request error": "Fail the request and do not repeat it unchanged. A failed send leaves the outbox as `failed`.",
	"temporary request error": "Repeat the same request (a send with the same client id) after a backoff; a send stays `pending`.",
	"client-side":             "Never on the wire: the SDK rejects a call with it.",
	"client-side, retryable":  "Never on the wire: the SDK rejects a call with it; the same call may succeed later.",
	"client-side, terminal":   "Never on the wire: the client stopped reconnecting by itself; the application decides.",
}

// codeActions refine the range's action for single codes.
var codeActions = map[Code]string{
	CodeUnauthorized:       "Stop. Never retry the same token; connect again only with a new one.",
	CodeTokenExpired:       "Get a fresh token (call the token function), then connect again; stop if there is none.",
	CodeKicked:             "Stop and emit `kicked`; connect again only when the application asks.",
	CodeBanned:             "Stop and emit `kicked`.",
	CodeUnsupportedVersion: "Stop: this client is too old or too new for the relay.",
	CodeProtocolError:      "Stop and report a bug: the client sent a malformed or out-of-order frame.",
	CodeFrameTooLarge:      "Stop and report a bug: the client must check sizes against `Welcome.MaxFrame` before sending.",
	CodeOriginForbidden:    "Stop: the page's origin is not on the relay's allow-list, a deployment setting.",
	CodeWrongShard:         "Stop: the connection reached a shard that does not serve the token's user. The SDK names the user in the URL (`?user=ID`), so this is a deployment error, or a URL that named another user.",
	CodeShutdown:           "Reconnect after a short random delay; the relay is restarting.",
	CodeSlowConsumer:       "Reconnect with backoff and sync: pushes were dropped.",
	CodeRateLimited:        "Reconnect with backoff and send more slowly.",
	CodeTooManySessions:    "Reconnect with backoff: the user's other connections hold every slot until one of them ends.",
	CodeForbidden:          "Fail the request: the conversation does not exist or the user is not a member (the relay does not say which). Refresh the conversation.",
	CodeConflict:           "Fail the request; the id belongs to something else. Retry only with a new id.",
	CodeTooLarge:           "Fail the request; it will not fit however often it is sent.",
	CodeBusy:               "Repeat the same request after a jittered, growing backoff of at least `RetryAfter` ms; a send stays `pending` and the sends behind it wait.",
	CodePanic:              "Never on the wire: the call hit a bug in the SDK (a recovered Go panic); report it with the message.",
	CodeConnectTimeout:     "Never on the wire: `connect()` stopped waiting; the client keeps retrying and emits `state` `connected` when it gets through.",
	CodeGaveUp:             "Never on the wire: the state is `disconnected`; `connect()` starts over.",
	CodeAborted:            "Never on the wire: an operation not yet written to the relay leaves no trace; one already written may still complete there.",
}

func renderCodeRanges() string {
	var b strings.Builder
	b.WriteString("| Codes | Range | `Terminal()` | `Retryable()` | On the wire | A client |\n|---|---|---|---|---|---|\n")
	for _, r := range codeRanges {
		fmt.Fprintf(&b, "| %d–%d | %s | %v | %v | %s | %s |\n",
			r.lo, r.hi, r.name, r.terminal, r.retryable, yesNo(r.onWire), rangeActions[r.name])
	}
	return b.String()
}

func renderCodes(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("| Code | Name | Go constant | Range | Meaning | A client |\n|---:|---|---|---|---|---|\n")
	for _, c := range codeConsts(t) {
		r, ok := rangeOf(c.code)
		if !ok {
			t.Fatalf("%s outside every range", c.name)
		}
		action := codeActions[c.code]
		if action == "" {
			action = rangeActions[r.name]
		}
		fmt.Fprintf(&b, "| %d | %s | `%s` | %s | %s | %s |\n", c.code, c.code, c.name, r.name, mdEscape(c.comment), action)
	}
	return b.String()
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func yesNo(v bool) string { return map[bool]string{true: "yes", false: "no"}[v] }

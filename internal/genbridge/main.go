// Command genbridge prints bindings/src/bridge.gen.ts, the TypeScript of
// every JSON shape that crosses the wasm bridge, from the Go types that
// encode and decode it:
//
//	go run ./internal/genbridge > bindings/src/bridge.gen.ts
//
// It reads the Go source (go/parser, so package main's types are in reach
// too): each field's json tag gives the TypeScript name, omitempty (and a
// pointer) makes it optional, a slice without omitempty may be null, []byte
// is a base64 string, a string type with constants becomes the union of
// their values, and a `ts:"Name"` tag names a hand-written TypeScript type
// instead. The field comments become the TypeScript docs. The storage shapes
// are public (types.ts re-exports them under these names); the others are
// @internal and stripped from the package's declarations.
// genbridge_test.go fails when the checked-in file differs from what this
// prints: the drift check CI runs.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/parley-im/parley/internal/gensrc"
)

// Output is where the generated file lives, relative to the module root.
const Output = "bindings/src/bridge.gen.ts"

// shape is one TypeScript type to generate from a Go type.
type shape struct {
	ts       string // TypeScript name
	dir      string // Go package directory, relative to the module root
	goType   string // Go type name
	internal bool   // stripped from the public declarations
	doc      string // the TypeScript doc; empty: the Go doc
}

const (
	coreDir   = "sdk-wasm/core"
	bridgeDir = "sdk-wasm/wasm"
)

// shapes are generated in this order. A Go type that refers to another must
// find it here (or carry a ts tag).
var shapes = []shape{
	{ts: "ConnectionState", dir: coreDir, goType: "State", doc: "Where the connection stands."},
	{ts: "MessageStatus", dir: coreDir, goType: "Status", doc: "Where a message stands from this device's point of view."},
	{ts: "StoredReaction", dir: coreDir, goType: "Reaction", doc: "The users who reacted to a message with one emoji."},
	{ts: "StoredAttachment", dir: coreDir, goType: "Attachment", doc: "The file of an image, file, audio or video message."},
	{ts: "StoredMessage", dir: coreDir, goType: "Message", doc: "A message as stored (`body` is base64)."},
	{ts: "SeqRange", dir: coreDir, goType: "SeqRange", doc: "The run of seqs `from`..`to`, both included."},
	{ts: "StoredConversation", dir: coreDir, goType: "Conversation", doc: "A conversation as stored."},
	{ts: "Relation", dir: coreDir, goType: "Relation", doc: "This user's relation to another user: a contact, a request either way, a block.\n`state` is `requested` (this user asked), `pending` (they asked; `note` is theirs),\n`contact`, or absent; `blocked` is independent of it."},
	{ts: "StoredConvSetting", dir: coreDir, goType: "ConvSetting", doc: "This user's settings of one conversation, as stored."},
	{ts: "StoredDraft", dir: coreDir, goType: "Draft", doc: "The draft of one conversation, as stored on this device."},
	{ts: "StorageAccount", dir: coreDir, goType: "Account", doc: "Contacts, block list, conversation settings and drafts, as stored in the meta."},
	{ts: "ContactAnswerEvent", dir: coreDir, goType: "ContactAnswer", doc: "Payload of the `contactAnswer` event: the user answered this user's contact request."},
	{ts: "StorageMeta", dir: coreDir, goType: "Meta", doc: "The per-device state a store keeps besides conversations, messages and the outbox."},
	{ts: "OutboxEntry", dir: coreDir, goType: "OutboxEntry", doc: "A send not acknowledged yet."},
	{ts: "StorageSnapshot", dir: coreDir, goType: "Snapshot", doc: "What {@link StorageAdapter.load} returns."},
	{ts: "StorageBatch", dir: coreDir, goType: "Batch", doc: "One atomic group of writes for {@link StorageAdapter.apply}."},
	{ts: "SearchCursor", dir: coreDir, goType: "SearchCursor", doc: "A position in search results, which run newest first: by `createdAt`, then\n`conversationId`, then `seq`, then `clientId`, each descending. Every\n{@link Message} is one: pass the last message of a page to get the next."},
	{ts: "StorageSearchQuery", dir: coreDir, goType: "SearchQuery", doc: "What {@link StorageAdapter.search} gets, validated and folded by the client."},
	{ts: "TypingEvent", dir: coreDir, goType: "Typing", doc: "Payload of the `typing` event: another member types in a conversation. Nothing says\nthe typing stopped: show it for a few seconds after the last one (5 s)."},
	{ts: "BridgeCallState", dir: coreDir, goType: "CallState", internal: true},
	{ts: "BridgeICEServer", dir: coreDir, goType: "ICEServer", internal: true},
	{ts: "BridgeCall", dir: coreDir, goType: "Call", internal: true},
	{ts: "BridgeCallChange", dir: coreDir, goType: "CallChange", internal: true},
	{ts: "BridgeCallEvent", dir: coreDir, goType: "CallEvent", internal: true},
	{ts: "BridgeCallSignal", dir: coreDir, goType: "CallSignal", internal: true},
	{ts: "Device", dir: coreDir, goType: "Device", doc: "One open session of this user, on any relay: see {@link ParleyClient.devices}."},
	{ts: "GroupNotice", dir: coreDir, goType: "GroupNotice", doc: "A pending invitation (`kind` `invite`: `user` is invited by `by`) or join request\n(`kind` `request`: `user` asks to join, with `note`). Payload of the `invitation` and\n`joinRequest` events."},
	{ts: "Member", dir: coreDir, goType: "Member", doc: "One member of a group."},
	{ts: "Presence", dir: coreDir, goType: "Presence", doc: "A user's presence: online while any of their devices is connected (see\n{@link ParleyClient.subscribePresence})."},
	{ts: "Profile", dir: coreDir, goType: "Profile", doc: "A user's public profile (see {@link ParleyClient.profiles})."},
	{ts: "BridgeEventKind", dir: coreDir, goType: "EventKind", internal: true},
	{ts: "BridgeEvent", dir: coreDir, goType: "Event", internal: true},
	{ts: "BridgeConfig", dir: bridgeDir, goType: "bridgeConfig", internal: true},
	{ts: "BridgeSearch", dir: bridgeDir, goType: "searchArgs", internal: true},
}

// handWritten are the TypeScript types a ts tag may name, with the module
// that declares them.
var handWritten = map[string]string{
	"ConversationType": "./types.js",
	"LogLevel":         "./types.js",
}

// qualified maps Go types of other packages to TypeScript.
var qualified = map[string]string{
	"proto.Code": "number",
}

func main() {
	root, err := gensrc.ModuleRoot()
	if err == nil {
		var out []byte
		if out, err = generate(root); err == nil {
			_, err = os.Stdout.Write(out)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genbridge:", err)
		os.Exit(1)
	}
}

// pkg is what genbridge knows of one Go package: its types and, per named
// type, the values of its constants in declaration order.
type pkg struct {
	name   string
	types  map[string]*ast.TypeSpec
	docs   map[string]string
	consts map[string][]string
}

func load(dir string) (*pkg, error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	p := &pkg{types: map[string]*ast.TypeSpec{}, docs: map[string]string{}, consts: map[string][]string{}}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		p.name = f.Name.Name
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range g.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					p.types[s.Name.Name] = s
					doc := s.Doc
					if doc == nil {
						doc = g.Doc
					}
					p.docs[s.Name.Name] = doc.Text()
				case *ast.ValueSpec:
					id, ok := s.Type.(*ast.Ident)
					if g.Tok != token.CONST || !ok {
						continue
					}
					for _, v := range s.Values {
						if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
							val, _ := strconv.Unquote(lit.Value)
							p.consts[id.Name] = append(p.consts[id.Name], val)
						}
					}
				}
			}
		}
	}
	return p, nil
}

// gen writes the TypeScript of the shapes.
type gen struct {
	pkgs    map[string]*pkg
	tsOf    map[string]string // "<dir>.<GoType>" → TypeScript name
	imports map[string]map[string]bool
	b       bytes.Buffer
}

func generate(root string) ([]byte, error) {
	g := &gen{pkgs: map[string]*pkg{}, tsOf: map[string]string{}, imports: map[string]map[string]bool{}}
	for _, s := range shapes {
		if g.pkgs[s.dir] == nil {
			p, err := load(filepath.Join(root, s.dir))
			if err != nil {
				return nil, err
			}
			g.pkgs[s.dir] = p
		}
		g.tsOf[s.dir+"."+s.goType] = s.ts
	}
	var body bytes.Buffer
	for _, s := range shapes {
		if err := g.shape(&body, s); err != nil {
			return nil, fmt.Errorf("%s.%s: %w", s.dir, s.goType, err)
		}
	}
	p := func(format string, args ...any) { fmt.Fprintf(&g.b, format, args...) }
	p("// Code generated by go run ./internal/genbridge; DO NOT EDIT.\n")
	p("// Source: the Go types named on each declaration. Regenerate: go run ./internal/genbridge > %s\n", Output)
	p("// go test ./internal/genbridge fails when this file drifts from the Go types.\n")
	p("//\n// The objects that cross the wasm bridge, in the shapes of their JSON (see wasm.d.ts for the calls).\n\n")
	var mods []string
	for m := range g.imports {
		mods = append(mods, m)
	}
	sort.Strings(mods)
	for _, m := range mods {
		var names []string
		for n := range g.imports[m] {
			names = append(names, n)
		}
		sort.Strings(names)
		p("import type { %s } from '%s';\n", strings.Join(names, ", "), m)
	}
	if len(mods) > 0 {
		p("\n")
	}
	g.b.Write(body.Bytes())
	return g.b.Bytes(), nil
}

func (g *gen) shape(w *bytes.Buffer, s shape) error {
	p := g.pkgs[s.dir]
	spec := p.types[s.goType]
	if spec == nil {
		return errors.New("no such type")
	}
	doc := s.doc
	if doc == "" {
		doc = strings.TrimSpace(p.docs[s.goType])
	}
	doc += "\n\nGenerated from Go " + p.name + "." + s.goType + "."
	if s.internal {
		doc += " @internal"
	}
	writeDoc(w, "", doc)
	switch t := spec.Type.(type) {
	case *ast.Ident:
		values := p.consts[s.goType]
		if t.Name != "string" || len(values) == 0 {
			return errors.New("only string types with constants become unions")
		}
		quoted := make([]string, len(values))
		for i, v := range values {
			quoted[i] = "'" + v + "'"
		}
		fmt.Fprintf(w, "export type %s = %s;\n\n", s.ts, strings.Join(quoted, " | "))
		return nil
	case *ast.StructType:
		fmt.Fprintf(w, "export interface %s {\n", s.ts)
		if err := g.fields(w, s.dir, t); err != nil {
			return err
		}
		fmt.Fprintf(w, "}\n\n")
		return nil
	}
	return errors.New("neither a struct nor a string type")
}

// fields writes the fields of st; an embedded struct's fields join them,
// as encoding/json flattens them.
func (g *gen) fields(w *bytes.Buffer, dir string, st *ast.StructType) error {
	for _, f := range st.Fields.List {
		if len(f.Names) == 0 {
			emb, err := g.embedded(dir, f.Type)
			if err != nil {
				return err
			}
			if err := g.fields(w, emb.dir, emb.st); err != nil {
				return err
			}
			continue
		}
		if !f.Names[0].IsExported() {
			continue // not encoded
		}
		var tag reflect.StructTag
		if f.Tag != nil {
			raw, _ := strconv.Unquote(f.Tag.Value)
			tag = reflect.StructTag(raw)
		}
		jsonTag, ok := tag.Lookup("json")
		if !ok {
			return fmt.Errorf("field %s has no json tag", f.Names[0].Name)
		}
		name, opts, _ := strings.Cut(jsonTag, ",")
		if name == "-" {
			continue
		}
		omitempty := strings.Contains(","+opts+",", ",omitempty,")
		typ, optional, err := g.tsType(dir, f.Type, omitempty)
		if err != nil {
			return fmt.Errorf("field %s: %w", f.Names[0].Name, err)
		}
		if t, ok := tag.Lookup("ts"); ok {
			mod, known := handWritten[t]
			if !known {
				return fmt.Errorf("field %s: ts tag %q names no known TypeScript type", f.Names[0].Name, t)
			}
			if g.imports[mod] == nil {
				g.imports[mod] = map[string]bool{}
			}
			g.imports[mod][t] = true
			typ = t
		}
		doc := strings.TrimSpace(f.Doc.Text())
		if doc == "" {
			doc = strings.TrimSpace(f.Comment.Text())
		}
		if doc != "" {
			writeDoc(w, "  ", sentence(doc))
		}
		q := ""
		if optional {
			q = "?"
		}
		fmt.Fprintf(w, "  %s%s: %s;\n", name, q, typ)
	}
	return nil
}

type embeddedStruct struct {
	dir string
	st  *ast.StructType
}

// embedded resolves an embedded field to a struct of a package genbridge
// loaded (core.X from the bridge is sdk-wasm/core).
func (g *gen) embedded(dir string, e ast.Expr) (embeddedStruct, error) {
	name := ""
	switch t := e.(type) {
	case *ast.Ident:
		name = t.Name
	case *ast.SelectorExpr:
		pkgName, ok := t.X.(*ast.Ident)
		if !ok || pkgName.Name != "core" {
			return embeddedStruct{}, fmt.Errorf("embedded %v: only core's types can be flattened", t.Sel.Name)
		}
		dir, name = coreDir, t.Sel.Name
	default:
		return embeddedStruct{}, errors.New("unsupported embedded field")
	}
	spec := g.pkgs[dir].types[name]
	if spec == nil {
		return embeddedStruct{}, fmt.Errorf("embedded %s: not found", name)
	}
	st, ok := spec.Type.(*ast.StructType)
	if !ok {
		return embeddedStruct{}, fmt.Errorf("embedded %s: not a struct", name)
	}
	return embeddedStruct{dir, st}, nil
}

// tsType maps a Go field type to TypeScript, and tells whether the field
// may be absent from the JSON.
func (g *gen) tsType(dir string, e ast.Expr, omitempty bool) (string, bool, error) {
	switch t := e.(type) {
	case *ast.Ident:
		switch t.Name {
		case "string":
			return "string", omitempty, nil
		case "bool":
			return "boolean", omitempty, nil
		case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
			return "number", omitempty, nil
		}
		if ts := g.tsOf[dir+"."+t.Name]; ts != "" {
			return ts, omitempty, nil
		}
		return "", false, fmt.Errorf("type %s is not among the shapes", t.Name)
	case *ast.SelectorExpr:
		q := fmt.Sprint(t.X) + "." + t.Sel.Name
		if ts := qualified[q]; ts != "" {
			return ts, omitempty, nil
		}
		if fmt.Sprint(t.X) == "core" {
			if ts := g.tsOf[coreDir+"."+t.Sel.Name]; ts != "" {
				return ts, omitempty, nil
			}
		}
		return "", false, fmt.Errorf("type %s is not mapped", q)
	case *ast.StarExpr:
		inner, _, err := g.tsType(dir, t.X, true)
		if err != nil {
			return "", false, err
		}
		if !omitempty {
			return inner + " | null", false, nil
		}
		return inner, true, nil
	case *ast.ArrayType:
		if id, ok := t.Elt.(*ast.Ident); ok && id.Name == "byte" && t.Len == nil {
			return "string", omitempty, nil // encoding/json writes []byte as base64
		}
		inner, _, err := g.tsType(dir, t.Elt, false)
		if err != nil {
			return "", false, err
		}
		if strings.Contains(inner, "|") {
			inner = "(" + inner + ")"
		}
		if !omitempty {
			return inner + "[] | null", false, nil // a nil slice is null
		}
		return inner + "[]", true, nil
	}
	return "", false, fmt.Errorf("unsupported type %T", e)
}

func writeDoc(w *bytes.Buffer, indent, doc string) {
	lines := strings.Split(strings.TrimSpace(doc), "\n")
	if len(lines) == 1 {
		fmt.Fprintf(w, "%s/** %s */\n", indent, lines[0])
		return
	}
	fmt.Fprintf(w, "%s/**\n", indent)
	for _, l := range lines {
		if l == "" {
			fmt.Fprintf(w, "%s *\n", indent)
			continue
		}
		fmt.Fprintf(w, "%s * %s\n", indent, l)
	}
	fmt.Fprintf(w, "%s */\n", indent)
}

// sentence makes a Go field comment a TypeScript doc: a first word that is
// a plain lowercase word is capitalised (code like p2p or lastSeq is left
// alone) and a full stop ends it.
func sentence(s string) string {
	word, _, _ := strings.Cut(s, " ")
	word = strings.TrimRight(word, ":;,")
	if word != "" && strings.Trim(word, "abcdefghijklmnopqrstuvwxyz") == "" {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

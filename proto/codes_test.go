package proto

import (
	"errors"
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"io"
	"slices"
	"strings"
	"testing"
)

// codeRange is one band of codes and what it means to a client.
type codeRange struct {
	lo, hi    Code
	name      string
	terminal  bool
	retryable bool
	onWire    bool
}

// codeRanges restates the table in codes.go; TestCodeRanges holds
// Terminal and Retryable to it, and docs/protocol.md is generated from it.
var codeRanges = []codeRange{
	{4000, 4099, "terminal close", true, false, true},
	{4100, 4199, "retryable close", false, true, true},
	{4200, 4299, "permanent request error", false, false, true},
	{4300, 4399, "temporary request error", false, true, true},
	{4906, 4906, "client-side, retryable", false, true, false},
	{4907, 4907, "client-side, terminal", true, false, false},
	{4900, 4999, "client-side", false, false, false},
}

func rangeOf(c Code) (codeRange, bool) {
	for _, r := range codeRanges {
		if c >= r.lo && c <= r.hi {
			return r, true
		}
	}
	return codeRange{}, false
}

func TestCodeRanges(t *testing.T) {
	t.Parallel()
	for _, c := range Codes() {
		r, ok := rangeOf(c)
		if !ok {
			t.Errorf("code %d (%s) is outside every range", c, c)
			continue
		}
		equal(t, fmt.Sprintf("%d.Terminal", c), c.Terminal(), r.terminal)
		equal(t, fmt.Sprintf("%d.Retryable", c), c.Retryable(), r.retryable)
	}
	// Codes no build defines: the bounds of every range, the gap, and the
	// RFC 6455 §7.4.1 codes a browser reports when the network drops.
	cases := []struct {
		code                Code
		terminal, retryable bool
	}{
		{1000, false, true}, // normal closure without a Parley code
		{1001, false, true}, // going away
		{1006, false, true}, // abnormal closure: the connection dropped
		{1009, false, true}, // message too big, from a proxy
		{1011, false, true}, // internal error
		{3999, false, true},
		{4000, true, false},
		{4099, true, false},
		{4100, false, true},
		{4199, false, true},
		{4200, false, false},
		{4299, false, false},
		{4300, false, true},
		{4399, false, true},
		{4400, false, true}, // unassigned: a newer relay's code must not strand a client
		{4899, false, true},
		{4900, false, false},
		{4999, false, false},
	}
	for _, c := range cases {
		equal(t, fmt.Sprintf("%d.Terminal", c.code), c.code.Terminal(), c.terminal)
		equal(t, fmt.Sprintf("%d.Retryable", c.code), c.code.Retryable(), c.retryable)
	}
}

// codeConst is one Code constant as declared in codes.go.
type codeConst struct {
	name    string // Go identifier
	code    Code
	comment string // the line comment: what the code means
}

// codeConsts parses codes.go, so the docs and the completeness check read
// the declarations themselves rather than a copy.
func codeConsts(t *testing.T) []codeConst {
	t.Helper()
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "codes.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var out []codeConst
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" || len(vs.Values) != len(vs.Names) {
				continue
			}
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok {
					t.Fatalf("%s: value is not a literal", name.Name)
				}
				n, ok := constant.Uint64Val(constant.MakeFromLiteral(lit.Value, lit.Kind, 0))
				if !ok {
					t.Fatalf("%s: bad value %s", name.Name, lit.Value)
				}
				out = append(out, codeConst{name.Name, Code(n), strings.TrimSpace(vs.Comment.Text())})
			}
		}
	}
	slices.SortFunc(out, func(a, b codeConst) int { return int(a.code) - int(b.code) })
	return out
}

// TestCodesComplete catches a constant added to codes.go without a name in
// codeNames, which would leave it out of Codes() and so out of the docs and
// the generated bindings.
func TestCodesComplete(t *testing.T) {
	t.Parallel()
	consts := codeConsts(t)
	var declared []Code
	for _, c := range consts {
		declared = append(declared, c.code)
		if c.comment == "" {
			t.Errorf("%s has no line comment saying what it means", c.name)
		}
	}
	codes := Codes()
	if !slices.Equal(declared, codes) {
		t.Fatalf("codes.go declares %v, Codes() lists %v", declared, codes)
	}
	for i, c := range codes {
		if i > 0 && codes[i-1] >= c {
			t.Errorf("Codes() not strictly ascending at %d", c)
		}
		if strings.HasPrefix(c.String(), "code ") {
			t.Errorf("%d has no name", c)
		}
	}
	equal(t, "unknown code name", Code(4444).String(), "code 4444")
}

func TestErrorIs(t *testing.T) {
	t.Parallel()
	forbidden := Errorf(CodeForbidden, "not a member of %s", "g:team")
	wrapped := fmt.Errorf("sdk: send: %w", forbidden)
	cases := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{"same code, other message", forbidden, &Error{Code: CodeForbidden, Message: "other"}, true},
		{"same code, no message", forbidden, &Error{Code: CodeForbidden}, true},
		{"wrapped", wrapped, &Error{Code: CodeForbidden}, true},
		{"twice wrapped", fmt.Errorf("app: %w", wrapped), &Error{Code: CodeForbidden}, true},
		{"joined", errors.Join(io.EOF, forbidden), &Error{Code: CodeForbidden}, true},
		{"other code", forbidden, &Error{Code: CodeNotFound}, false},
		{"sentinel", ErrFrameTooLarge, &Error{Code: CodeFrameTooLarge}, true},
		{"not an *Error target", forbidden, io.EOF, false},
		{"nil *Error target", forbidden, (*Error)(nil), false},
		{"nil target", forbidden, nil, false},
		{"plain error", io.EOF, &Error{Code: CodeForbidden}, false},
	}
	for _, c := range cases {
		equal(t, c.name, errors.Is(c.err, c.target), c.want)
	}
	var nilErr *Error
	equal(t, "nil receiver", nilErr.Is(forbidden), false)

	var pe *Error
	if !errors.As(wrapped, &pe) || pe.Code != CodeForbidden {
		t.Fatalf("errors.As: %v", pe)
	}
	equal(t, "message", forbidden.Error(), "parley: 4203 forbidden: not a member of g:team")
	equal(t, "bare message", (&Error{Code: CodeShutdown}).Error(), "parley: 4100 shutdown")
}

package proto

import (
	"bytes"
	"os"
	"reflect"
	"testing"

	"github.com/parley-im/parley/internal/gencbor"
)

// codecRoots are the types the generated codec encodes and decodes: the
// envelope, every frame body and the bodies stored or carried inside
// messages.
func codecRoots() []reflect.Type {
	roots := []reflect.Type{
		reflect.TypeFor[envelope](), reflect.TypeFor[peekEnvelope](),
		reflect.TypeFor[Attachment](), reflect.TypeFor[UserEntry](), reflect.TypeFor[GroupEvent](),
	}
	for t := range 256 {
		if b, _ := NewBody(Type(t)); b != nil {
			roots = append(roots, reflect.TypeOf(b).Elem())
		}
	}
	return roots
}

// generateCodec returns what codec_gen.go must hold.
func generateCodec() ([]byte, error) {
	return gencbor.Generate(gencbor.Config{
		Package: "proto",
		Command: "internal/gencbor (go test ./proto -run '^TestCodecGenerated$' -update)",
		Roots:   codecRoots(),
		Raw:     []reflect.Type{reflect.TypeFor[rawItem]()},

		AppendHead: appendHead,
	})
}

// TestCodecGenerated fails when codec_gen.go is not what the generator
// writes for today's types; -update rewrites it.
func TestCodecGenerated(t *testing.T) {
	want, err := generateCodec()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("codec_gen.go", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("codec_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("codec_gen.go is stale: go test ./proto -run '^TestCodecGenerated$' -update")
	}
}

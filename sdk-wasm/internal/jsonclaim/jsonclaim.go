// Package jsonclaim reads one string claim from a token's JSON payload
// without encoding/json and the reflection it brings into parley.wasm. It
// is a package of its own, with no dependencies, so that fuzzing it does
// not instrument the client and everything the client imports.
package jsonclaim

// TopString returns the string value of key at the top level of the
// JSON object raw, "" when raw is not a complete object, the key is absent
// or its value is not a string without escapes. It is what the client
// needs from a token's claims (its subject). Nested values are skipped,
// strings with escapes included.
func TopString(raw []byte, key string) string {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return ""
	}
	i++
	found := "" // the last occurrence wins, as in encoding/json
	for {
		i = skipSpace(raw, i)
		if i < len(raw) && raw[i] == '}' && found == "" {
			return ""
		}
		if i >= len(raw) || raw[i] != '"' {
			return ""
		}
		k, next, ok := readString(raw, i)
		if !ok {
			return ""
		}
		i = skipSpace(raw, next)
		if i >= len(raw) || raw[i] != ':' {
			return ""
		}
		i = skipSpace(raw, i+1)
		if i >= len(raw) {
			return ""
		}
		if k == key {
			found = ""
			if raw[i] == '"' {
				if v, _, ok := readString(raw, i); ok {
					found = v
				}
			}
		}
		if i = skipValue(raw, i); i < 0 {
			return ""
		}
		i = skipSpace(raw, i)
		if i >= len(raw) {
			return ""
		}
		switch raw[i] {
		case ',':
			i++
		case '}':
			return found
		default:
			return ""
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// readString reads the string starting at b[i] == '"'. A string holding an
// escape is skipped correctly but reported as not ok (the callers want only
// plain ids).
func readString(b []byte, i int) (s string, next int, ok bool) {
	plain := true
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			plain = false
			j++
		case '"':
			return string(b[i+1 : j]), j + 1, plain
		}
	}
	return "", len(b), false
}

// skipValue returns the index after the JSON value at b[i], or -1.
func skipValue(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch c := b[i]; c {
		case '"':
			_, next, _ := readString(b, i)
			if next > len(b) || b[next-1] != '"' {
				return -1
			}
			i = next
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	if depth == 0 {
		return i
	}
	return -1
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"
)

// Arguments. As with aemp, a command line whose only argument is a JSON
// array is the whole command line, its elements JSON values; otherwise an
// argument that starts with '[', '{' or '"' is JSON text. An argument of
// the shell is a raw value until a command says what it wants of it.
type raw string

// splitArgv returns the arguments as raw values, or the elements of a
// whole-argv JSON array.
func splitArgv(args []string) ([]any, error) {
	if len(args) == 1 && strings.HasPrefix(args[0], "[") {
		v, err := decodeJSON(args[0])
		if err != nil {
			return nil, usageErr(fmt.Errorf("the command line %s", err))
		}
		list, _ := v.([]any)
		return list, nil
	}
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = raw(a)
	}
	return out, nil
}

// decodeJSON decodes one JSON value, numbers as json.Number.
func decodeJSON(s string) (any, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("%.40q is not JSON: %v", s, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("%.40q is not one JSON value", s)
	}
	return v, nil
}

// isJSONText reports whether a raw argument is JSON by aemp's rule.
func isJSONText(s string) bool {
	return strings.HasPrefix(s, "[") || strings.HasPrefix(s, "{") || strings.HasPrefix(s, `"`)
}

// strArg is an argument that must be a string: a port, a family, a key.
func strArg(a any, what string) (string, error) {
	switch x := a.(type) {
	case raw:
		return string(x), nil
	case string:
		return x, nil
	}
	return "", usageErr(fmt.Errorf("%s must be a string, not %s", what, jsonText(a)))
}

// cfgArg is a value for a profile key: JSON text by aemp's rule, else the
// text itself, which the key interprets ("a,b" for a list…).
func cfgArg(a any) (any, error) {
	if r, ok := a.(raw); ok {
		if isJSONText(string(r)) {
			v, err := decodeJSON(string(r))
			if err != nil {
				return nil, usageErr(err)
			}
			return v, nil
		}
		return string(r), nil
	}
	return a, nil
}

// msgArg is an element of a message: JSON text by aemp's rule, a number
// if the argument is a JSON number (tether's addition: Go nodes tell 5
// from "5"; write '"5"' for the string), else the text as a string.
func msgArg(a any) (any, error) {
	r, ok := a.(raw)
	if !ok {
		return fromJSON(a), nil
	}
	s := string(r)
	if isJSONText(s) {
		v, err := decodeJSON(s)
		if err != nil {
			return nil, usageErr(err)
		}
		return fromJSON(v), nil
	}
	if s != "" && strings.ContainsAny(s[:1], "-0123456789") {
		if v, err := decodeJSON(s); err == nil {
			if n, ok := v.(json.Number); ok {
				return fromJSON(n), nil
			}
		}
	}
	return s, nil
}

func msgArgs(argv []any) ([]any, error) {
	out := make([]any, len(argv))
	for i, a := range argv {
		v, err := msgArg(a)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// fromJSON turns json.Number into int64 (or float64 when it has a
// fraction or does not fit), throughout v: the message model's numbers.
func fromJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i, e := range x {
			x[i] = fromJSON(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = fromJSON(e)
		}
	}
	return v
}

// toJSON makes a message value printable as JSON: byte strings that are
// UTF-8 become strings (Perl nodes send text as byte strings); others
// stay []byte, which JSON shows in base64. NaN and infinities, which JSON
// lacks, become the strings "NaN", "+Inf" and "-Inf".
func toJSON(v any) any {
	switch x := v.(type) {
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toJSON(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = toJSON(e)
		}
		return out
	case raw:
		return string(x)
	}
	return v
}

// jsonText renders v as one line of JSON.
func jsonText(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(toJSON(v)); err != nil {
		return fmt.Sprintf("%q", fmt.Sprint(v))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Exit codes: 0 success, 1 a failure at run time (a remote one, with the
// reason), 2 a usage or configuration error; 128+N after signal N.
const (
	exitFailure = 1
	exitUsage   = 2
)

// exitError is an error with the exit code it means.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(err error) error { return &exitError{exitUsage, err} }

// silentExit ends a command with a code and nothing more to say.
type silentExit int

func (s silentExit) Error() string { return fmt.Sprintf("exit %d", int(s)) }

func exitCode(err error) int {
	var ee *exitError
	var se silentExit
	switch {
	case err == nil:
		return 0
	case errors.As(err, &se):
		return int(se)
	case errors.As(err, &ee):
		return ee.code
	}
	return exitFailure
}

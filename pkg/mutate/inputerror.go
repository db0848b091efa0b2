package mutate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// An InputError is malformed input: the object the API server sent is not
// what its kind says. Field is a JSON pointer into the object ("" for the
// whole object) and Problem says what is wrong there, in words a user of
// kubectl understands: no Go type names. The webhook answers it with 400;
// any other error from this package is gatemesh's own and answers 500.
type InputError struct {
	Field   string
	Problem string
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return e.Problem
	}
	return e.Field + ": " + e.Problem
}

// inputErrorf makes an InputError at field.
func inputErrorf(field, format string, args ...any) *InputError {
	return &InputError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// IsInputError reports whether err is, or wraps, an InputError.
func IsInputError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}

// DecodeError turns an error from decoding JSON at base (a JSON pointer of
// where the decoded value sits in the object) into an InputError naming the
// field and the JSON it found, without the Go type it was decoding into.
func DecodeError(base string, err error) error {
	if err == nil {
		return nil
	}
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		return &InputError{Field: base + string(syn.JSONPointer),
			Problem: fmt.Sprintf("invalid JSON at byte %d: %s", syn.ByteOffset, trimJSONPrefix(syn.Err))}
	}
	var sem *json.SemanticError
	if errors.As(err, &sem) {
		var ie *InputError
		if errors.As(sem.Err, &ie) {
			return &InputError{Field: base + string(sem.JSONPointer) + ie.Field, Problem: ie.Problem}
		}
		problem := "has the wrong type"
		switch {
		case sem.JSONKind != 0 && sem.JSONKind != jsontext.KindInvalid:
			problem = "must not be " + kindName(sem.JSONKind)
		case sem.Err != nil:
			problem = trimJSONPrefix(sem.Err)
		}
		return &InputError{Field: base + string(sem.JSONPointer), Problem: problem}
	}
	var ie *InputError
	if errors.As(err, &ie) {
		return &InputError{Field: base + ie.Field, Problem: ie.Problem}
	}
	return &InputError{Field: base, Problem: trimJSONPrefix(err)}
}

// kindName names a JSON kind as people say it.
func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 'f', 't':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "this kind of value"
}

func trimJSONPrefix(err error) string {
	if err == nil {
		return "malformed"
	}
	return strings.TrimPrefix(strings.TrimPrefix(err.Error(), "jsontext: "), "json: ")
}

// decodeError is DecodeError, for this package's decoders.
func decodeError(base string, err error) error { return DecodeError(base, err) }

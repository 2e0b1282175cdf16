package quiver

import (
	"errors"
	"fmt"
)

// ErrorKind says why a call failed as a whole; it is the contract's
// error-kind.
type ErrorKind uint8

const (
	// InvalidConfig: open got a configuration the transform cannot use.
	InvalidConfig ErrorKind = iota
	// SchemaMismatch: bind got a schema the transform cannot accept.
	SchemaMismatch
	// InvalidCall: the host called in the wrong order or sent data that
	// does not match.
	InvalidCall
	// Failed: the transform itself failed.
	Failed
)

// String is the contract's name of the kind.
func (k ErrorKind) String() string {
	switch k {
	case InvalidConfig:
		return "invalid-config"
	case SchemaMismatch:
		return "schema-mismatch"
	case InvalidCall:
		return "invalid-call"
	default:
		return "failed"
	}
}

// Error is an error the host sees with its kind. Any other error a
// transform returns reaches the host as Failed.
type Error struct {
	Kind    ErrorKind
	Message string
}

func (e *Error) Error() string { return e.Message }

// ConfigErrorf is an InvalidConfig error, for Open.
func ConfigErrorf(format string, args ...any) error {
	return &Error{InvalidConfig, fmt.Sprintf(format, args...)}
}

// SchemaErrorf is a SchemaMismatch error, for Bind.
func SchemaErrorf(format string, args ...any) error {
	return &Error{SchemaMismatch, fmt.Sprintf(format, args...)}
}

func invalidCallf(format string, args ...any) error {
	return &Error{InvalidCall, fmt.Sprintf(format, args...)}
}

func failedf(format string, args ...any) error {
	return &Error{Failed, fmt.Sprintf(format, args...)}
}

// KindOf is the contract's kind of err: its own for an *Error, else Failed.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Failed
}

package quiver

import "fmt"

// Level is the severity of a log message.
type Level uint8

// The contract's log levels.
const (
	LevelTrace Level = iota
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
)

// Logf writes a message to the host's log (the host rate-limits it and cuts
// long messages). Outside a component it goes to standard error.
func Logf(level Level, format string, args ...any) {
	hostLog(level, fmt.Sprintf(format, args...))
}

//go:build !wasip1

package quiver

import (
	"fmt"
	"os"
)

var levelNames = [...]string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR"}

func hostLog(level Level, message string) {
	fmt.Fprintf(os.Stderr, "%s %s\n", levelNames[level], message)
}

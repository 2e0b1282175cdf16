//go:build wasip1

package quiver

import host "quiver.dev/quiver/internal/wit/imports/quiver_transform_host"

func hostLog(level Level, message string) { host.Log(host.Level(level), message) }

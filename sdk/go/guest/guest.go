//go:build wasip1

package guest

// `quiver plugin build` imports this package into the plugin's main
// package; the blank import is what links the exports in.
import (
	_ "quiver.dev/quiver/internal/wit/exports/wit_exports"
)

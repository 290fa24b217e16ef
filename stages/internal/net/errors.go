package net

import (
	"fmt"
	"runtime/debug"
)

// panicError turns a recovered panic into an error (with the stack, since
// a panic here is a bug worth reporting).
func panicError(r any) error {
	if err, ok := r.(error); ok {
		return fmt.Errorf("net: internal error: %w\n%s", err, debug.Stack())
	}
	return fmt.Errorf("net: internal error: %v\n%s", r, debug.Stack())
}

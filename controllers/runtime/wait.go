package runtime

import (
	"context"
	"time"
)

// DefaultReconnectDelay is the pause between reconnect attempts of a source
// whose ReconnectDelay is zero.
const DefaultReconnectDelay = time.Second

// Sleep waits for d or until ctx is done, and reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

package httpapi

import (
	"testing"
	"time"
)

func TestRequestCounterWindow(t *testing.T) {
	now := time.Date(2026, 11, 26, 14, 59, 59, 0, time.UTC)
	c := newRequestCounter(time.Hour)
	c.now = func() time.Time { return now }
	c.add("acme")
	c.add("acme")
	c.add("other")
	if got := c.count("acme"); got.Count != 2 || !got.Start.Equal(time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)) ||
		!got.End.Equal(time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)) {
		t.Errorf("count = %+v", got)
	}
	now = now.Add(time.Second) // the next hour
	if got := c.count("acme"); got.Count != 0 || got.Start.Hour() != 15 {
		t.Errorf("after the window: %+v", got)
	}
	c.add("acme")
	if got := c.count("acme"); got.Count != 1 {
		t.Errorf("new window: %+v", got)
	}
	if got := c.count("nobody"); got.Count != 0 {
		t.Errorf("unknown tenant: %+v", got)
	}
}

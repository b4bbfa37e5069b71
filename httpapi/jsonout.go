package httpapi

import "time"

// timeFormat is RFC 3339 in UTC with exactly 6 fractional digits.
const timeFormat = "2006-01-02T15:04:05.000000Z"

// formatTime formats t as the API does.
func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

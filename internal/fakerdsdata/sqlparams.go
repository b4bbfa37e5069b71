package fakerdsdata

import (
	"strconv"
	"strings"
)

// rewriteNamed turns the Data API's :name placeholders into PostgreSQL's
// $n ones and returns the names in order of their numbers ($1 is names[0]).
// A name used twice gets one number.
//
// Like the service, it skips single-quoted strings (E'...' ones with their
// backslash escapes too), double-quoted identifiers and comments, and
// leaves :: casts and := alone; and like the service it does not know
// dollar-quoted strings, so a :name inside $$...$$ is rewritten there as
// well, and the slice a[1:2] reads :2 as a placeholder.
func rewriteNamed(sql string) (string, []string) {
	var out strings.Builder
	out.Grow(len(sql))
	var names []string
	number := map[string]int{}
	n := len(sql)
	for i := 0; i < n; {
		c := sql[i]
		switch {
		case c == '\'':
			escapes := i > 0 && (sql[i-1] == 'E' || sql[i-1] == 'e') && (i < 2 || !isNameByte(sql[i-2]))
			j := quotedEnd(sql, i, '\'', escapes)
			out.WriteString(sql[i:j])
			i = j
		case c == '"':
			j := quotedEnd(sql, i, '"', false)
			out.WriteString(sql[i:j])
			i = j
		case c == '-' && i+1 < n && sql[i+1] == '-':
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				j = n - i
			}
			out.WriteString(sql[i : i+j])
			i += j
		case c == '/' && i+1 < n && sql[i+1] == '*':
			depth, j := 1, i+2
			for j < n && depth > 0 {
				switch {
				case strings.HasPrefix(sql[j:], "/*"):
					depth++
					j += 2
				case strings.HasPrefix(sql[j:], "*/"):
					depth--
					j += 2
				default:
					j++
				}
			}
			out.WriteString(sql[i:j])
			i = j
		case c == ':' && i+1 < n && sql[i+1] == ':':
			out.WriteString("::")
			i += 2
		case c == ':' && i+1 < n && isNameByte(sql[i+1]):
			j := i + 1
			for j < n && isNameByte(sql[j]) {
				j++
			}
			name := sql[i+1 : j]
			k, ok := number[name]
			if !ok {
				names = append(names, name)
				k = len(names)
				number[name] = k
			}
			out.WriteString("$" + strconv.Itoa(k))
			i = j
		default:
			out.WriteByte(c)
			i++
		}
	}
	return out.String(), names
}

// quotedEnd is the end of the string or quoted name that opens at
// sql[start]: past the closing quote, a doubled quote being part of it
// (and, with escapes, a backslash and what follows it).
func quotedEnd(sql string, start int, quote byte, escapes bool) int {
	j := start + 1
	for j < len(sql) {
		switch {
		case escapes && sql[j] == '\\':
			j += 2
		case sql[j] != quote:
			j++
		case j+1 < len(sql) && sql[j+1] == quote:
			j += 2
		default:
			return j + 1
		}
	}
	return len(sql)
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

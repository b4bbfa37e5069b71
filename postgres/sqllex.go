package postgres

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// This file holds what the RDS Data API driver (SPEC §11) needs to send the
// product's SQL: the Data API runs exactly one statement per call and takes
// named parameters (:name) where PostgreSQL takes positional ones ($1).
//
// One small lexer serves the functions of this file. It follows PostgreSQL's
// own scanner (src/backend/parser/scan.l, and its copy for clients in
// src/fe_utils/psqlscan.l) only as far as knowing where a token starts and
// ends requires, with standard_conforming_strings on:
//
//   - '…' strings ('' stands for a quote, a backslash is an ordinary
//     character), and B'…', X'…', N'…' and U&'…' strings, which end the same
//     way;
//   - E'…' strings, in which a backslash escapes the next character (\' as
//     well), continued by a further '…' after whitespace holding a newline
//     (a continuation stays an E'…' string, as in PostgreSQL);
//   - "…" and U&"…" identifiers ("" stands for a double quote);
//   - $tag$…$tag$ strings, tag empty or an identifier without $ that does
//     not start with a digit, ending at the first identical delimiter ($1
//     is a parameter; $x without a closing $ is a lone $);
//   - -- comments to the end of the line (\n or \r), and /* … */ comments,
//     which nest;
//   - unquoted identifiers and key words ([A-Za-z_] or any byte from 0x80
//     on, then those, digits and $), so that a $ or an E inside one starts
//     nothing;
//   - numbers, with the trailing letters PostgreSQL 16 reads as part of
//     them (1e'…' is still 1 followed by an E'…' string, as in PostgreSQL);
//   - $n parameters, the :: cast, and every other byte on its own.
//
// Whitespace is PostgreSQL's: space, \t, \n, \r and \f.

// sqlTokenKind is what a token is.
type sqlTokenKind uint8

const (
	tokEOF     sqlTokenKind = iota
	tokSpace                // whitespace
	tokComment              // -- … or /* … */
	tokString               // '…', E'…', B'…', X'…', N'…', U&'…'
	tokIdent                // "…" or U&"…"
	tokDollar               // $tag$…$tag$
	tokWord                 // an unquoted identifier or key word
	tokNumber               // a numeric literal, with any trailing junk
	tokParam                // $n
	tokCast                 // ::
	tokOther                // any other single byte: ( ) ; : , operators …
)

// sqlToken is src[start:end] of the text being lexed.
type sqlToken struct {
	kind       sqlTokenKind
	start, end int
}

// sqlLexer returns the tokens of src one by one.
type sqlLexer struct {
	src string
	pos int
}

// next returns the next token, tokEOF at the end. An unterminated string,
// identifier, dollar quote or block comment is an error naming the line it
// starts on; the lexer is then at the end.
func (l *sqlLexer) next() (sqlToken, error) {
	s, i := l.src, l.pos
	if i >= len(s) {
		return sqlToken{kind: tokEOF, start: i, end: i}, nil
	}
	kind, end, err := tokOther, i+1, error(nil)
	switch c := s[i]; {
	case isSQLSpace(c):
		kind = tokSpace
		for end < len(s) && isSQLSpace(s[end]) {
			end++
		}
	case c == '-' && sqlByteAt(s, i+1) == '-':
		kind, end = tokComment, lineCommentEnd(s, i)
	case c == '/' && sqlByteAt(s, i+1) == '*':
		kind = tokComment
		end, err = blockCommentEnd(s, i)
	case c == '\'':
		kind = tokString
		end, err = quotedEnd(s, i, i+1, '\'', false)
	case c == '"':
		kind = tokIdent
		end, err = quotedEnd(s, i, i+1, '"', false)
	case c == '$':
		kind, end, err = dollarToken(s, i)
	case isSQLDigit(c):
		kind, end = tokNumber, numberEnd(s, i)
	case isSQLIdentStart(c):
		kind, end, err = wordToken(s, i)
	case c == ':' && sqlByteAt(s, i+1) == ':':
		kind, end = tokCast, i+2
	}
	if err != nil {
		l.pos = len(s)
		return sqlToken{kind: tokEOF, start: i, end: len(s)}, err
	}
	l.pos = end
	return sqlToken{kind: kind, start: i, end: end}, nil
}

// wordToken lexes at s[i], an identifier start: a string or identifier
// with a prefix (E'…', B'…', X'…', N'…', U&'…', U&"…") or a word.
func wordToken(s string, i int) (sqlTokenKind, int, error) {
	c, c1 := s[i], sqlByteAt(s, i+1)
	switch {
	case (c == 'e' || c == 'E') && c1 == '\'':
		end, err := quotedEnd(s, i, i+2, '\'', true)
		return tokString, end, err
	case strings.IndexByte("bBxXnN", c) >= 0 && c1 == '\'':
		end, err := quotedEnd(s, i, i+2, '\'', false)
		return tokString, end, err
	case (c == 'u' || c == 'U') && c1 == '&' && sqlByteAt(s, i+2) == '\'':
		end, err := quotedEnd(s, i, i+3, '\'', false)
		return tokString, end, err
	case (c == 'u' || c == 'U') && c1 == '&' && sqlByteAt(s, i+2) == '"':
		end, err := quotedEnd(s, i, i+3, '"', false)
		return tokIdent, end, err
	}
	end := i + 1
	for end < len(s) && isSQLIdentCont(s[end]) {
		end++
	}
	return tokWord, end, nil
}

// quotedEnd returns the end of the quoted string or identifier that starts
// at s[start] and whose body starts at s[j]: after the closing q that is
// not doubled (nor, with backslash, escaped). An E'…' string (backslash)
// goes on into a '…' that follows after whitespace holding a newline.
func quotedEnd(s string, start, j int, q byte, backslash bool) (int, error) {
	for j < len(s) {
		switch s[j] {
		case '\\':
			if backslash {
				j += 2
				continue
			}
		case q:
			if sqlByteAt(s, j+1) == q {
				j += 2
				continue
			}
			if backslash {
				if k := continuedQuote(s, j+1); k > 0 {
					j = k
					continue
				}
			}
			return j + 1, nil
		}
		j++
	}
	what := "quoted string"
	if q == '"' {
		what = "quoted identifier"
	}
	return 0, sqlLexError(s, start, "unterminated "+what)
}

// continuedQuote returns the index just past the quote that continues a
// string closed at s[j-1] ({quotecontinue} of scan.l: whitespace and --
// comments holding at least one newline, then '), or 0 when none does.
func continuedQuote(s string, j int) int {
	newline := false
	for j < len(s) {
		switch c := s[j]; {
		case c == '\n' || c == '\r':
			newline = true
			j++
		case c == ' ' || c == '\t' || c == '\f':
			j++
		case c == '-' && sqlByteAt(s, j+1) == '-':
			j = lineCommentEnd(s, j)
		case c == '\'' && newline:
			return j + 1
		default:
			return 0
		}
	}
	return 0
}

// dollarToken lexes at s[i] == '$': a parameter, a dollar-quoted string or
// a lone $.
func dollarToken(s string, i int) (sqlTokenKind, int, error) {
	j := i + 1
	if isSQLDigit(sqlByteAt(s, j)) {
		for j < len(s) && isSQLDigit(s[j]) {
			j++
		}
		return tokParam, j, nil
	}
	if j < len(s) && isSQLIdentStart(s[j]) {
		for j < len(s) && isSQLIdentCont(s[j]) && s[j] != '$' {
			j++
		}
	}
	if sqlByteAt(s, j) != '$' {
		return tokOther, i + 1, nil
	}
	delim := s[i : j+1]
	k := strings.Index(s[j+1:], delim)
	if k < 0 {
		return tokEOF, 0, sqlLexError(s, i, "unterminated dollar-quoted string "+delim)
	}
	return tokDollar, j + 1 + k + len(delim), nil
}

// numberEnd returns the end of the number that starts at s[i], a digit:
// digits with underscores, 0x/0o/0b integers, a fraction, an exponent, and
// then identifier characters, which PostgreSQL 16 takes as trailing junk
// of the number (an error, but one token). An e or E followed by a quote
// is left to start an E'…' string, as scan.l's realfail rule does.
func numberEnd(s string, i int) int {
	j := i + 1
	if s[i] == '0' && strings.IndexByte("xXoObB", sqlByteAt(s, j)) >= 0 && isSQLHexDigit(sqlByteAt(s, j+1)) {
		j += 2
		for j < len(s) && (isSQLHexDigit(s[j]) || s[j] == '_') {
			j++
		}
	} else {
		j = digitsEnd(s, j)
		if sqlByteAt(s, j) == '.' && sqlByteAt(s, j+1) != '.' {
			j = digitsEnd(s, j+1)
		}
		if c := sqlByteAt(s, j); c == 'e' || c == 'E' {
			k := j + 1
			if c := sqlByteAt(s, k); c == '+' || c == '-' {
				k++
			}
			if isSQLDigit(sqlByteAt(s, k)) {
				j = digitsEnd(s, k)
			}
		}
	}
	if c := sqlByteAt(s, j); isSQLIdentStart(c) && !((c == 'e' || c == 'E') && sqlByteAt(s, j+1) == '\'') {
		for j < len(s) && isSQLIdentCont(s[j]) {
			j++
		}
	}
	return j
}

// digitsEnd returns the end of the run of digits and underscores at s[j].
func digitsEnd(s string, j int) int {
	for j < len(s) && (isSQLDigit(s[j]) || s[j] == '_') {
		j++
	}
	return j
}

// lineCommentEnd returns the end of the -- comment at s[i]: the next \n or
// \r, which is not part of it, or the end of s.
func lineCommentEnd(s string, i int) int {
	if k := strings.IndexAny(s[i:], "\n\r"); k >= 0 {
		return i + k
	}
	return len(s)
}

// blockCommentEnd returns the end of the /* comment at s[i], counting the
// comments nested in it.
func blockCommentEnd(s string, i int) (int, error) {
	depth := 1
	for j := i + 2; j+1 < len(s); {
		switch s[j : j+2] {
		case "/*":
			depth++
			j += 2
		case "*/":
			depth--
			j += 2
			if depth == 0 {
				return j, nil
			}
		default:
			j++
		}
	}
	return 0, sqlLexError(s, i, "unterminated /* comment")
}

// sqlLexError is what ends lexing at s[at]: what, and the line it starts on.
func sqlLexError(s string, at int, what string) error {
	return fmt.Errorf("%s starting on line %d", what, 1+strings.Count(s[:at], "\n"))
}

func sqlByteAt(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func isSQLSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

func isSQLDigit(c byte) bool { return '0' <= c && c <= '9' }

func isSQLHexDigit(c byte) bool {
	return isSQLDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// isSQLIdentStart reports whether c may start an unquoted identifier (any
// byte of a multibyte UTF-8 character may).
func isSQLIdentStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c >= 0x80
}

func isSQLIdentCont(c byte) bool { return isSQLIdentStart(c) || isSQLDigit(c) || c == '$' }

// splitStatements splits script, a migration file, into its statements, in
// order, each without its terminating semicolon and without the whitespace
// and comments before its first token and after its last (comments within
// it stay). Statements that are empty or only comments are dropped. The
// last statement needs no semicolon. An unterminated string, identifier,
// dollar quote or block comment is an error naming the line it starts on.
//
// A semicolon ends a statement unless it is inside a string, identifier,
// dollar quote or comment (the lexer's tokens), inside parentheses (a
// CREATE RULE's action list), or inside a CREATE FUNCTION/PROCEDURE body
// written BEGIN ATOMIC … END (PostgreSQL 14+). For the last, splitStatements
// follows psql's heuristic (psqlscan.l, begin_depth): in a statement whose
// first unquoted words are CREATE [OR REPLACE] FUNCTION or PROCEDURE, and
// outside parentheses, every BEGIN opens a block, CASE opens one when a
// block is already open (its END would otherwise close the body early),
// and END closes one. psql counts any BEGIN there, not only one followed by
// ATOMIC, and so does splitStatements; a function body in a dollar quote
// or a string holds no words, so only a BEGIN ATOMIC body counts.
//
// Joining the statements with ";\n" and splitting the result gives them
// back (FuzzSplitStatements checks this).
func splitStatements(script string) ([]string, error) {
	var (
		stmts       []string
		lx          = sqlLexer{src: script}
		st          statementState
		first, last = -1, -1 // the span of the statement's tokens
	)
	for {
		tok, err := lx.next()
		if err != nil {
			return nil, err
		}
		switch tok.kind {
		case tokEOF:
			if first >= 0 {
				stmts = append(stmts, script[first:last])
			}
			return stmts, nil
		case tokSpace, tokComment:
			continue
		case tokWord:
			st.word(script[tok.start:tok.end])
		case tokOther:
			switch script[tok.start] {
			case '(':
				st.parens++
			case ')':
				if st.parens > 0 {
					st.parens--
				}
			case ';':
				if st.parens == 0 && st.blocks == 0 {
					if first >= 0 {
						stmts = append(stmts, script[first:last])
					}
					first, st = -1, statementState{}
					continue
				}
			}
		}
		if first < 0 {
			first = tok.start
		}
		last = tok.end
	}
}

// statementState is what splitStatements knows of the statement so far:
// psql's paren_depth, begin_depth, identifier_count and identifiers.
type statementState struct {
	parens int     // open parentheses
	blocks int     // open BEGIN (and CASE within one) in a routine's body
	words  int     // unquoted words so far
	lead   [4]byte // for each of the first four words, the first letter of CREATE, OR, REPLACE, FUNCTION or PROCEDURE, or 0
}

// word takes the statement's next unquoted word w.
func (st *statementState) word(w string) {
	if st.words < len(st.lead) {
		for _, kw := range [...]string{"create", "function", "procedure", "or", "replace"} {
			if isSQLKeyword(w, kw) {
				st.lead[st.words] = kw[0]
				break
			}
		}
	}
	st.words++
	if !st.routine() || st.parens > 0 {
		return
	}
	switch {
	case isSQLKeyword(w, "begin"):
		st.blocks++
	case isSQLKeyword(w, "case"):
		if st.blocks > 0 {
			st.blocks++
		}
	case isSQLKeyword(w, "end"):
		if st.blocks > 0 {
			st.blocks--
		}
	}
}

// routine reports whether the statement starts CREATE [OR REPLACE]
// FUNCTION or PROCEDURE.
func (st *statementState) routine() bool {
	l := st.lead
	return l[0] == 'c' && (l[1] == 'f' || l[1] == 'p' ||
		l[1] == 'o' && l[2] == 'r' && (l[3] == 'f' || l[3] == 'p'))
}

// isSQLKeyword reports whether w is kw (lower case) in any ASCII case, as
// PostgreSQL compares key words.
func isSQLKeyword(w, kw string) bool {
	if len(w) != len(kw) {
		return false
	}
	for i := range len(w) {
		c := w[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != kw[i] {
			return false
		}
	}
	return true
}

// namedParams rewrites sql, one statement for the Data API, replacing every
// positional parameter $n outside strings, identifiers, dollar quotes and
// comments by the named parameter :pn ($1 → :p1, $012 → :p12), and returns
// the result with the highest n (0 when there is none; sql is then
// returned as it is). Everything else is left as it is, :: casts included:
// $1::uuid becomes :p1::uuid. A parameter right after a colon gets a space
// before it ($1:$2 → :p1: :p2), so that no :: appears where there was none.
// A $n followed by an identifier character ($1a, $1_0: an error in
// PostgreSQL 16), $0, a number beyond PostgreSQL's int4, or an
// unterminated string, identifier, dollar quote or block comment is an
// error.
func namedParams(sql string) (string, int, error) {
	var (
		b       strings.Builder
		lx      = sqlLexer{src: sql}
		highest int
		copied  int // sql[:copied] is in b
	)
	for {
		tok, err := lx.next()
		if err != nil {
			return "", 0, err
		}
		if tok.kind == tokEOF {
			break
		}
		if tok.kind != tokParam {
			continue
		}
		param := sql[tok.start:tok.end]
		line := 1 + strings.Count(sql[:tok.start], "\n")
		if isSQLIdentCont(sqlByteAt(sql, tok.end)) {
			return "", 0, fmt.Errorf("parameter %s on line %d is followed by %q", param, line, sql[tok.end:min(tok.end+1, len(sql))])
		}
		n, err := strconv.Atoi(param[1:])
		switch {
		case err != nil || n > math.MaxInt32:
			return "", 0, fmt.Errorf("parameter %s on line %d: number too large", param, line)
		case n == 0:
			return "", 0, fmt.Errorf("parameter %s on line %d: parameters are numbered from 1", param, line)
		}
		b.WriteString(sql[copied:tok.start])
		if tok.start > 0 && sql[tok.start-1] == ':' {
			b.WriteByte(' ')
		}
		b.WriteString(":p")
		b.WriteString(strconv.Itoa(n))
		copied = tok.end
		highest = max(highest, n)
	}
	if copied == 0 {
		return sql, 0, nil
	}
	b.WriteString(sql[copied:])
	return b.String(), highest, nil
}

// hasColonName reports whether sql holds, outside strings, identifiers,
// dollar quotes and comments, a colon followed by an identifier start
// (:name, a[1:n]) that is not part of a :: cast. The Data API reads such a
// colon as a named parameter, so the driver refuses SQL with one rather
// than send it; call it on the SQL before namedParams. It judges by
// PostgreSQL's tokens: a colon inside a dollar quote, or one followed by a
// digit (a[1:2]), is not reported. An unterminated string or comment hides
// the rest of sql (namedParams reports it).
func hasColonName(sql string) bool {
	lx := sqlLexer{src: sql}
	for {
		tok, err := lx.next()
		if err != nil || tok.kind == tokEOF {
			return false
		}
		if tok.kind == tokOther && sql[tok.start] == ':' && isSQLIdentStart(sqlByteAt(sql, tok.end)) {
			return true
		}
	}
}

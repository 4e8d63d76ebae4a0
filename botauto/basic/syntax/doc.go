// Package syntax is the front end of the bot BASIC dialect
// (../shared/reference/basic.md): a lexer, an AST and a recursive-descent
// parser that recovers at statement boundaries, so that one compile reports
// every error it can, each with a line:column a bot author can act on.
//
// Keywords are case-insensitive identifiers, not token kinds. Control flow is
// parsed by hand; everything else that looks like `KEYWORD args [AS x]` is
// driven by the Keywords table, so a new keyword is one table row.
package syntax

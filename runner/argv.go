// A command that is one simple command (`sed -n '/x/p'`, `grep -c rain`, `tr a-z A-Z`) runs
// without a shell: sh would only split its words and exec it, and a shell per file costs as much
// again as the command itself (busybox: ~1 ms of CPU). Anything a shell would do more with,
// even possibly, runs under `sh -c` as before: an operator, a redirection, an expansion, a glob,
// an escape, a comment, an assignment, a builtin or keyword, or a program not on PATH (sh then
// says "not found" and exits 127 as it always did).
package main

import "strings"

// plain are the characters a word may hold unquoted that no POSIX shell treats specially.
const plain = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./,:@%+=-"

// shellWords are the builtins and keywords of POSIX sh, dash and busybox ash: run by the shell
// itself, they may differ from a program of the same name (echo -e) or not exist as one (cd).
var shellWords = map[string]bool{
	".": true, ":": true, "[": true, "alias": true, "bg": true, "break": true, "cd": true,
	"command": true, "continue": true, "echo": true, "eval": true, "exec": true, "exit": true,
	"export": true, "false": true, "fc": true, "fg": true, "getopts": true, "hash": true,
	"jobs": true, "kill": true, "let": true, "local": true, "newgrp": true, "printf": true,
	"pwd": true, "read": true, "readonly": true, "return": true, "set": true, "shift": true,
	"test": true, "times": true, "trap": true, "true": true, "type": true, "ulimit": true,
	"umask": true, "unalias": true, "unset": true, "wait": true, "source": true,
	"if": true, "then": true, "else": true, "elif": true, "fi": true, "do": true, "done": true,
	"case": true, "esac": true, "while": true, "until": true, "for": true, "in": true,
	"function": true, "select": true, "time": true, "{": true, "}": true, "!": true,
	"[[": true, "]]": true,
}

// simpleArgv is the argument vector of command when a shell would run it as one program with
// these words, unchanged; false when anything about it is the shell's business.
func simpleArgv(command string) ([]string, bool) {
	var words []string
	var word strings.Builder
	inWord := false
	for i := 0; i < len(command); i++ {
		c := command[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words, inWord = append(words, word.String()), false
				word.Reset()
			}
			continue
		case c == '\'':
			end := strings.IndexByte(command[i+1:], '\'')
			if end < 0 {
				return nil, false
			}
			word.WriteString(command[i+1 : i+1+end])
			i += end + 1
		case c == '"':
			end := strings.IndexByte(command[i+1:], '"')
			if end < 0 || strings.ContainsAny(command[i+1:i+1+end], "$`\\!") {
				return nil, false
			}
			word.WriteString(command[i+1 : i+1+end])
			i += end + 1
		case strings.IndexByte(plain, c) >= 0:
			word.WriteByte(c)
		default:
			return nil, false // an operator, expansion, glob, escape, comment, newline, ...
		}
		inWord = true
	}
	if inWord {
		words = append(words, word.String())
	}
	if len(words) == 0 || shellWords[words[0]] || strings.Contains(words[0], "=") {
		return nil, false
	}
	return words, true
}

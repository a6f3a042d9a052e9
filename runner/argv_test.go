package main

import (
	"reflect"
	"testing"
)

func TestSimpleCommandsRunWithoutAShell(t *testing.T) {
	cases := map[string][]string{
		`sed -n '/38.7[2-4]....,-9.1[3-5]..../p'`: {"sed", "-n", "/38.7[2-4]....,-9.1[3-5]..../p"},
		`grep -c rain`:          {"grep", "-c", "rain"},
		`cut -d, -f4`:           {"cut", "-d,", "-f4"},
		`  tr  a-z   A-Z `:      {"tr", "a-z", "A-Z"},
		`grep "a b" 'c d'e`:     {"grep", "a b", "c de"},
		`awk '{print $1}'`:      {"awk", "{print $1}"},
		`/bin/cat`:              {"/bin/cat"},
		`printf-like ''`:        {"printf-like", ""},
		`wc -l --files0-from=x`: {"wc", "-l", "--files0-from=x"},
	}
	for command, want := range cases {
		got, ok := simpleArgv(command)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("simpleArgv(%q) = %q, %v; want %q", command, got, ok, want)
		}
	}
}

func TestAnythingAShellWouldDoMoreWithRunsUnderSh(t *testing.T) {
	for _, command := range []string{
		"", "   ", "grep a | wc -l", "sed p > out", "cat < x", "echo hi", "printf %s x", "cd /",
		"true", "[ -f x ]", "A=1 env", "grep $HOME", "grep `x`", "grep $(x)", "ls *.log", "ls ?",
		"ls [ab]", "cat ~/x", `grep a\ b`, "grep a # comment", "grep 'open", `grep "open`,
		`grep "$x"`, "grep \"`x`\"", `grep "a\"b"`, "sed p; date", "sed p & wait", "sed p && x",
		"if true", "for x in a", "time sed p", "{ sed p; }", "(sed p)", "sed p\nwc", "!x",
		"grep {a,b}", "exec sed p", "export X", "grep \"a!\"",
	} {
		if argv, ok := simpleArgv(command); ok {
			t.Errorf("simpleArgv(%q) = %q: it would run without the shell it needs", command, argv)
		}
	}
}

package main

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
)

func jobOf(text string) (*job, error) {
	s := &streams{in: bufio.NewReader(strings.NewReader(text))}
	return s.readJob()
}

func TestTheJobFrameSaysWhatToRun(t *testing.T) {
	payload := `{"command":"sed -n p","server":"","output":10,"stderr":5}`
	j, err := jobOf("C " + strconv.Itoa(len(payload)) + "\n" + payload + "F 0\n")
	if err != nil || j == nil || j.Command != "sed -n p" || j.Output != 10 || j.Stderr != 5 {
		t.Fatalf("got %+v, %v", j, err)
	}
}

func TestAStreamEndedBeforeTheJobIsNoJobAndNoError(t *testing.T) {
	if j, err := jobOf(""); j != nil || err != nil {
		t.Fatalf("got %+v, %v", j, err)
	}
}

func TestMalformedJobFramesAreRefused(t *testing.T) {
	for _, text := range []string{
		"F 0\n",           // a file before the job
		"C x\n",           // not a size
		"C 99999999999\n", // larger than a command line
		"C 5\n{\"a\"",     // cut inside the payload
		"C 2\n{}",         // no command
		"C 9\nnot json!",  // not JSON
		"C 27\n{\"command\":\"x\",\"output\":-1}", // a negative limit
	} {
		if j, err := jobOf(text); j != nil || err == nil {
			t.Errorf("%q: got %+v, %v", text, j, err)
		}
	}
}

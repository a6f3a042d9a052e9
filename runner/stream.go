// The shard's two streams: every file's input comes in on /io/TAG.in and every file's output,
// stderr and status go back on /io/TAG.out, framed, so the host handles a shard in large chunks
// instead of three FIFOs, their opens and their polls per file.
//
// In (host to runner), first the job, then per file i in order:
//
//	C <n>\n<n bytes>       the job, JSON: {"command": "...", "server": "...", "output": OUTLIMIT,
//	                       "stderr": ERRLIMIT} (a container starts before it knows its job: a
//	                       node keeps one ready, executor/warm.py)
//	F <i>\n                run file i now (the runner waits for this: a container can start
//	                       before the host knows which files it will run)
//	D <i> <n>\n<n bytes>   a piece of file i's input
//	E <i>\n                file i's input has ended (early, when the host saw its status first)
//
// The runner exits when the host ends the stream.
//
// Out (runner to host), per file i in order; a file's O and R frames all come before its S:
//
//	O <i> <n>\n<n bytes>   a piece of its stdout (at most OUTLIMIT+1 bytes in all: the host
//	                       sees the overflow; the command's stdout is then closed)
//	R <i> <n>\n<n bytes>   a piece of its stderr (at most ERRLIMIT+1 bytes; the rest is read
//	                       and dropped so the command never blocks on it)
//	S <i> <status line>\n  what the FIFO protocol's status line said (see main.go)
//
// The command's stdin, stdout and stderr are pipes of this runner: the command reaches no other
// file's data, and nothing of the host's.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	chunkSize  = 256 << 10
	drainGrace = 2 * time.Second // how long a file's output may take to end once it is done
)

// buffers are the forwarders' read buffers, reused from file to file (two a file otherwise: 512
// KiB of garbage per file).
var buffers = sync.Pool{New: func() any { buf := make([]byte, chunkSize); return &buf }}

type streams struct {
	in                 *bufio.Reader
	out                *os.File
	mu                 sync.Mutex // one frame at a time on out
	outLimit, errLimit int64
	files              chan int      // the files the host asks for, in order (closed: no more)
	stdins             chan *os.File // the asked file's stdin write end, for feedAll
	forwarding         *sync.WaitGroup
	frame, piece       []byte
}

// job is what the host's first frame says: what to run and its limits.
type job struct {
	Command string `json:"command"`
	Server  string `json:"server"`
	Output  int64  `json:"output"`
	Stderr  int64  `json:"stderr"`
}

// maxJob bounds the job frame: a command line, not data.
const maxJob = 1 << 20

// openStreams opens the shard's two FIFOs and reads the job; nil when the host ended the stream
// first. Past idle (0: never) with no job, the runner exits: a warm container nobody took.
func openStreams(tag string, idle time.Duration) (*streams, *job, error) {
	if idle > 0 {
		waiting := time.AfterFunc(idle, func() {
			fmt.Fprintln(os.Stderr, "codsh-runner: no job came; exiting")
			os.Exit(0)
		})
		defer waiting.Stop()
	}
	prefix := filepath.Join("/io", tag)
	in, err := os.OpenFile(prefix+".in", os.O_RDONLY, 0) // close-on-exec: no command inherits it
	if err != nil {
		return nil, nil, err
	}
	out, err := os.OpenFile(prefix+".out", os.O_WRONLY, 0)
	if err != nil {
		in.Close()
		return nil, nil, err
	}
	s := &streams{
		in: bufio.NewReaderSize(in, chunkSize), out: out,
		files: make(chan int), stdins: make(chan *os.File), forwarding: &sync.WaitGroup{},
		piece: make([]byte, chunkSize),
	}
	j, err := s.readJob()
	if j == nil || err != nil {
		in.Close()
		out.Close()
		return nil, nil, err
	}
	s.outLimit, s.errLimit = j.Output, j.Stderr
	go s.feedAll()
	return s, j, nil
}

// readJob reads the C frame; nil, nil when the stream ended before it.
func (s *streams) readJob() (*job, error) {
	line, err := s.in.ReadString('\n')
	if err != nil {
		return nil, nil
	}
	fields := strings.Fields(line)
	n, nerr := int64(0), error(nil)
	if len(fields) == 2 {
		n, nerr = strconv.ParseInt(fields[1], 10, 64)
	}
	if len(fields) != 2 || fields[0] != "C" || nerr != nil || n < 0 || n > maxJob {
		return nil, fmt.Errorf("the first frame is not a job: %q", line)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(s.in, payload); err != nil {
		return nil, errors.New("the stream ended inside the job frame")
	}
	var j job
	if err := json.Unmarshal(payload, &j); err != nil || j.Command == "" || j.Output < 0 || j.Stderr < 0 {
		return nil, fmt.Errorf("a malformed job %q", payload)
	}
	return &j, nil
}

// next is the next file the host asks for; false when it ended the stream.
func (s *streams) next() (int, bool) {
	i, more := <-s.files
	return i, more
}

// open makes file i's pipes: the command's ends are returned (closed by the caller once the
// command is done); this runner's ends are fed and forwarded.
func (s *streams) open(i int) ([3]*os.File, bool) {
	var files [3]*os.File
	inR, inW, err1 := os.Pipe()
	outR, outW, err2 := os.Pipe()
	errR, errW, err3 := os.Pipe()
	if err1 != nil || err2 != nil || err3 != nil {
		fmt.Fprintln(os.Stderr, "codsh-runner: no pipes:", err1, err2, err3)
		for _, f := range []*os.File{inR, inW, outR, outW, errR, errW} {
			if f != nil {
				f.Close()
			}
		}
		s.stdins <- nil // its input is dropped
		return files, false
	}
	s.stdins <- inW
	forwarding := &sync.WaitGroup{}
	forwarding.Add(2)
	s.forwarding = forwarding
	go s.forward(forwarding, 'O', i, outR, s.outLimit, true)
	go s.forward(forwarding, 'R', i, errR, s.errLimit, false)
	return [3]*os.File{inR, outW, errW}, true
}

// report sends file i's status once its output has all been sent (its writers are gone: the
// command exited, what it left was killed); after drainGrace what is still unread is given up.
func (s *streams) report(i int, line string) error {
	done := make(chan struct{})
	forwarding := s.forwarding
	go func() { forwarding.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drainGrace):
		fmt.Fprintf(os.Stderr, "codsh-runner: file %d's output did not end; reported without the rest\n", i)
	}
	return s.write([]byte("S " + line))
}

// forward sends what r gives as frames of kind for file i, at most limit+1 bytes; past that
// it closes r (stopAtLimit: the writer gets EPIPE) or reads on and drops the rest.
func (s *streams) forward(done *sync.WaitGroup, kind byte, i int, r *os.File, limit int64, stopAtLimit bool) {
	defer done.Done()
	defer r.Close()
	buf := buffers.Get().(*[]byte)
	defer buffers.Put(buf)
	var sent int64
	for {
		n, err := r.Read(*buf)
		if keep := min(int64(n), limit+1-sent); keep > 0 {
			header := fmt.Sprintf("%c %d %d\n", kind, i, keep)
			if s.writeFrame(header, (*buf)[:keep]) != nil {
				return
			}
			sent += keep
		}
		if err != nil || (stopAtLimit && sent > limit) {
			return
		}
	}
}

func (s *streams) writeFrame(header string, payload []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frame = append(append(s.frame[:0], header...), payload...)
	_, err := s.out.Write(s.frame)
	return err
}

func (s *streams) write(data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.out.Write(data)
	return err
}

// feedAll hands each file the host asks for (F) to the main loop and copies its input frames
// into its stdin; frames of no current file (ended by the host after the runner moved on) are
// dropped. It ends, and with it the runner's loop, when the host ends the stream.
func (s *streams) feedAll() {
	defer close(s.files)
	header, ok := s.header()
	for ok {
		fields := strings.Fields(header)
		if fields[0] != "F" {
			if !s.skip(fields) {
				return
			}
			header, ok = s.header()
			continue
		}
		i, _ := strconv.Atoi(fields[1])
		s.files <- i
		if header, ok = s.feed(i, <-s.stdins); ok && header == "" {
			header, ok = s.header()
		}
	}
}

// header reads the next frame header; false when the stream ended.
func (s *streams) header() (string, bool) {
	line, err := s.in.ReadString('\n')
	if err != nil {
		return "", false
	}
	fields := strings.Fields(line)
	if len(fields) < 2 || (fields[0] == "D" && len(fields) < 3) {
		fmt.Fprintf(os.Stderr, "codsh-runner: a malformed input frame %q\n", line)
		os.Exit(3)
	}
	return line, true
}

// skip drops a frame's payload; false when the stream ended inside it.
func (s *streams) skip(fields []string) bool {
	if fields[0] != "D" {
		return true
	}
	n, _ := strconv.ParseInt(fields[2], 10, 64)
	_, ok := s.copyFrame(io.Discard, n)
	return ok
}

// feed copies file i's D frames into w (nil: dropped) until its E frame, then closes w (the
// command sees the end of its input); when the command stops reading, the rest is read and
// dropped. It returns a header read past the file's frames ("" after its E frame).
func (s *streams) feed(i int, w *os.File) (string, bool) {
	var sink io.Writer = io.Discard
	if w != nil {
		sink = w
		defer w.Close()
	}
	for {
		header, ok := s.header()
		if !ok {
			return "", false
		}
		fields := strings.Fields(header)
		file, _ := strconv.Atoi(fields[1])
		switch {
		case fields[0] == "F": // the host moved on without ending this one
			return header, true
		case fields[0] == "E" && file == i:
			return "", true
		case fields[0] == "D" && file == i:
			n, _ := strconv.ParseInt(fields[2], 10, 64)
			var whole bool
			if sink, whole = s.copyFrame(sink, n); !whole {
				return "", false
			}
		case !s.skip(fields):
			return "", false
		}
	}
}

// copyFrame copies the n bytes of a D frame to dst, which becomes io.Discard once it fails (the
// command closed its stdin): the stream stays in step whatever the command does. False when
// the host's stream ended inside the frame.
func (s *streams) copyFrame(dst io.Writer, n int64) (io.Writer, bool) {
	for n > 0 {
		k, err := s.in.Read(s.piece[:min(n, int64(len(s.piece)))])
		n -= int64(k)
		if k > 0 && dst != io.Discard {
			if _, werr := dst.Write(s.piece[:k]); werr != nil {
				dst = io.Discard
			}
		}
		if err != nil {
			return dst, false
		}
	}
	return dst, true
}

// The fork server of Python functions: `codsh-runner loop COMMAND START END SERVER`.
//
// Why: a new interpreter per file pays Python's start and the function's imports every time
// (~200 ms with Pillow). SERVER (e.g. `exec python3 /codsh-env/_codsh_runner.py --serve`) is
// started once, as the command's user like any command, with one more descriptor: fd 3, a
// SOCK_SEQPACKET socket to this runner. It imports the function and says `ready cpu=<µs>`, or
// `fallback <why>` when the state its import left would not fork faithfully (threads, a file open
// for writing, shared memory). Per file this runner opens the FIFOs as before (the command's user
// cannot) and passes them over the socket (SCM_RIGHTS); the server forks a child whose fds 0-2
// they become, answers `started <pid>` (the child calls the function only after that), and
// `done <status> cpu=<µs> rss=<KiB>` once it has reaped it. The child's changes die with it; between files this runner cleans up as for any
// command, keeping only the server (stopped, then continued, while everything else is killed).
//
// Whenever the server cannot serve a file (it did not start, failed its checks, died, or its
// import left files in /tmp, processes or IPC objects) that file runs as COMMAND in a new
// interpreter, exactly as without a server, and the next file gets a new server (or, if the
// server could not start, every file of the container runs as COMMAND).
package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

type server struct {
	cmd   *exec.Cmd
	fd    int    // this runner's end of the socket
	pid   int    // the server's PID ...
	start string // ... and its start time: a process that later takes the PID is not the server
	cpu   int64  // µs its import took, billed to the next file it serves
}

// startServer starts SERVER and waits for its answer; nil and why when it will not serve.
func startServer(command string) (*server, string) {
	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, "no socket: " + err.Error()
	}
	theirs := os.NewFile(uintptr(pair[1]), "server socket")
	cmd := asCommandUser(exec.Command("sh", "-c", command))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr // the container log: e.g. "python3: not found"
	cmd.ExtraFiles = []*os.File{theirs}           // fd 3 in the server; nothing else is passed
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		syscall.Close(pair[0])
		return nil, "cannot start it: " + err.Error()
	}
	s := &server{cmd: cmd, fd: pair[0], pid: cmd.Process.Pid}
	wake := syscall.Timeval{Usec: 100_000} // reads wake up to see whether the server was stopped
	_ = syscall.SetsockoptTimeval(s.fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &wake)
	s.start = startTime(s.pid)
	answer, ok := s.read()
	if cpu, found := strings.CutPrefix(answer, "ready cpu="); ok && found {
		s.cpu, _ = strconv.ParseInt(cpu, 10, 64)
		return s, ""
	}
	s.stop()
	if !ok {
		return nil, "it exited before it was ready"
	}
	return nil, oneLine(strings.TrimPrefix(answer, "fallback "))
}

// serveFile runs file i (its opened FIFOs) in a child of the server; served is false when the
// server could not take it (the file did not start: it can run as COMMAND instead).
func (s *server) serveFile(i int, files [3]*os.File) (status int, used usage, served bool) {
	rights := syscall.UnixRights(int(files[0].Fd()), int(files[1].Fd()), int(files[2].Fd()))
	if err := syscall.Sendmsg(s.fd, []byte(strconv.Itoa(i)+"\n"), rights, nil, 0); err != nil {
		return 0, usage{}, false
	}
	answer, ok := s.read()
	pidText, found := strings.CutPrefix(answer, "started ")
	pid, err := strconv.Atoi(pidText)
	if !ok || !found || err != nil {
		if ok {
			fmt.Fprintln(os.Stderr, "codsh-runner: the server refused a file:", oneLine(answer))
		}
		return 0, usage{}, false
	}
	used.cpu, s.cpu = s.cpu, 0
	answer, ok = s.read()
	var code int
	var cpu, rss int64
	if ok {
		if _, err := fmt.Sscanf(answer, "done %d cpu=%d rss=%d", &code, &cpu, &rss); err == nil {
			used.add(usage{cpu, rss})
			return code, used, true
		}
		s.stop() // never sent by a sound server: the file's status is lost with it
		return 128 + int(syscall.SIGKILL), used, true
	}
	// The server died with the child running: once it is gone the child is this PID 1's
	// (re-parented), so its own status is still known.
	s.closeSocket()
	_ = s.cmd.Wait()
	var ws syscall.WaitStatus
	var ru syscall.Rusage
	if _, err := syscall.Wait4(pid, &ws, 0, &ru); err != nil {
		return 128 + int(syscall.SIGKILL), used, true // reaped already: no status is left
	}
	used.add(usageOf(&ru))
	return shellStatus(ws), used, true
}

// read is one answer of the server; false when it closed the socket (it exited).
func (s *server) read() (string, bool) {
	buf := make([]byte, 512)
	for {
		n, err := syscall.Read(s.fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN { // no answer yet: a file's process may have stopped the server
			if s.stopped() {
				_ = syscall.Kill(s.pid, syscall.SIGCONT) // allowed: the same session
			}
			continue
		}
		if err != nil || n <= 0 {
			return "", false
		}
		return strings.TrimSpace(string(buf[:n])), true
	}
}

// alive says whether the server still runs (not a zombie, nor another process on its PID).
func (s *server) alive() bool {
	state := processState(s.pid)
	return state != "" && state != "Z" && state != "X" && startTime(s.pid) == s.start
}

// stopped says whether something stopped the server (SIGSTOP from a file's process).
func (s *server) stopped() bool {
	state := processState(s.pid)
	return state == "T" || state == "t"
}

// stop ends the server: the socket closed (it exits on EOF), then every process of the
// command's user killed, the server with them, whatever state it was in.
func (s *server) stop() {
	s.closeSocket()
	runClean(0)
	_ = s.cmd.Wait() // may have been reaped already: its error does not matter
}

func (s *server) closeSocket() {
	if s.fd >= 0 {
		syscall.Close(s.fd)
		s.fd = -1
	}
}

func shellStatus(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// statFields are the fields of /proc/PID/stat after the command name (nil when it is gone).
func statFields(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	return strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
}

func processState(pid int) string {
	if fields := statFields(pid); len(fields) > 0 {
		return fields[0]
	}
	return ""
}

func startTime(pid int) string {
	if fields := statFields(pid); len(fields) > 19 {
		return fields[19] // field 22 of stat: the start time, in clock ticks since boot
	}
	return ""
}

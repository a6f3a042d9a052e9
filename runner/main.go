// codsh-runner: PID 1 of every shard container. It runs the user's command once per file of the
// shard, each time from a clean state, and reports each file's exit status to the host.
//
// Why a program and not a shell loop: a shell loop runs as the same user as the command, so the
// command can reach everything the loop holds (its status pipe, through /proc/1/fd), kill or
// outlive it, and leave files and processes behind for the next file. This runner starts as the
// container's root with only CAP_SETUID and CAP_SETGID, runs each command as 65534:65534 with
// nothing inherited but stdin, stdout and stderr, and before the next file makes sure that no
// process of the previous one is left and that /tmp, /dev/shm, /dev/mqueue and System V IPC are
// empty. When it cannot make the state clean, it says so and exits: the host starts a fresh
// container for the rest of the shard instead of handing the next file a dirty one.
//
// Protocol (the host's side is codsh/executor/shard.py and streams.py): the shard's scratch folder
// is mounted at /io with two FIFOs, TAG.in (every file's input, framed) and TAG.out (every
// file's output, stderr and status, framed: stream.go). The FIFOs are the node user's, mode 0600:
// only this runner can open them. The status of file i is "<i> <exit status> cpu=<µs> rss=<KiB>
// <state>", where the exit status is the shell's (128+N for a signal N), cpu is the user+system
// CPU time of the file's processes (the shell, what it waited for, and orphans reaped after it:
// the kernel's rusage, exact and free), rss the largest resident set of one of them, and state
// is "clean", "dirty:<what>" (then the runner exits: the next file needs a fresh container) or
// "unusable:<why>" (the command cannot start in this image; the runner exits).
//
//	codsh-runner stream TAG [IDLE]        wait for the job on TAG.in (its command, output
//	                                      limits and fork server: stream.go), then run the
//	                                      files the host asks for through `sh -c COMMAND` (or
//	                                      without sh: argv.go), or through a fork server
//	                                      (server.go); exit if no job came in IDLE seconds (a
//	                                      warm container nobody took)
//	codsh-runner clean [KEEP]             (as the command's user) kill its processes but KEEP,
//	                                      empty scratch
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	commandUID  = 65534
	commandGID  = 65534
	cleanBudget = 3 * time.Second // how long a cleanup may take before the container is given up
)

// Places a command can write to that outlive it; each must be empty before the next file.
var scratchDirs = []string{"/tmp", "/dev/shm", "/dev/mqueue"}

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "clean" {
		keep := 0
		if len(os.Args) == 3 {
			keep, _ = strconv.Atoi(os.Args[2])
		}
		clean(keep)
		return
	}
	if (len(os.Args) != 3 && len(os.Args) != 4) || os.Args[1] != "stream" {
		fmt.Fprintln(os.Stderr, "usage: codsh-runner stream TAG [IDLE] | codsh-runner clean [KEEP]")
		os.Exit(2)
	}
	idle := time.Duration(0)
	if len(os.Args) == 4 {
		seconds, err := strconv.Atoi(os.Args[3])
		if err != nil || seconds < 0 {
			fmt.Fprintln(os.Stderr, "codsh-runner: IDLE must be a number of seconds")
			os.Exit(2)
		}
		idle = time.Duration(seconds) * time.Second
	}
	host, job, err := openStreams(os.Args[2], idle)
	if err != nil {
		fmt.Fprintln(os.Stderr, "codsh-runner: cannot open the shard's streams:", err)
		os.Exit(3)
	}
	if job == nil {
		os.Exit(0) // the host ended the stream before it sent a job
	}
	os.Exit(loop(host, job.Command, job.Server))
}

func loop(host *streams, command string, serverCommand string) int {
	findDirect(command)
	var srv *server
	for {
		i, more := host.next()
		if !more {
			return 0
		}
		orphans = usage{}
		if serverCommand != "" && srv == nil {
			srv = newServer(serverCommand)
			if srv == nil {
				serverCommand = "" // it cannot start here: a new interpreter per file from now on
			}
		}
		files, ok := host.open(i)
		status, used, startErr := 126, usage{}, error(nil)
		if ok {
			status, used, startErr = runFile(command, i, srv, files)
		}
		if startErr != nil { // the image cannot run the command at all: no file can run here
			line := fmt.Sprintf("%d %d cpu=0 rss=0 unusable:%s\n", i, status, oneLine(startErr.Error()))
			_ = host.report(i, line)
			return 0
		}
		if srv != nil && !srv.alive() {
			srv.stop()
			srv = nil // the next file gets a new one
		}
		state := cleanState(srv)
		if state != "" {
			runClean(keepOf(srv))
			state = cleanState(srv)
		}
		report := "clean"
		if state != "" {
			report = "dirty:" + state
		}
		used.add(orphans)
		line := fmt.Sprintf("%d %d cpu=%d rss=%d %s\n", i, status, used.cpu, used.rss, report)
		if err := host.report(i, line); err != nil {
			fmt.Fprintln(os.Stderr, "codsh-runner: cannot report a status:", err)
			return 3
		}
		if state != "" {
			fmt.Fprintf(os.Stderr, "codsh-runner: after file %d: %s left behind; stopping\n", i, state)
			return 0
		}
	}
}

// usage is what some processes used: CPU microseconds (user+system) and the largest RSS in KiB.
type usage struct{ cpu, rss int64 }

// orphans is what the processes a file left behind (re-parented to this PID 1) used, reaped.
var orphans usage

func (u *usage) add(other usage) {
	u.cpu += other.cpu
	u.rss = max(u.rss, other.rss)
}

func usageOf(ru *syscall.Rusage) usage {
	if ru == nil {
		return usage{}
	}
	micros := func(tv syscall.Timeval) int64 { return tv.Sec*1_000_000 + tv.Usec }
	return usage{micros(ru.Utime) + micros(ru.Stime), ru.Maxrss}
}

// newServer starts the fork server and checks what its import left; nil when it cannot serve.
func newServer(command string) *server {
	srv, why := startServer(command)
	if srv != nil {
		if state := cleanState(srv); state != "" {
			srv.stop() // its import left state behind that a file would see: kill it, clean up
			srv, why = nil, "its import left "+state
		}
	}
	if srv == nil {
		fmt.Fprintln(os.Stderr, "codsh-runner: no fork server, an interpreter per file:", why)
	}
	return srv
}

func keepOf(srv *server) int {
	if srv == nil {
		return 0
	}
	return srv.pid
}

// runFile runs the command on file i (files: its stdin, stdout and stderr, closed here once it
// is done) and returns its exit status as a shell would report it and what its processes used,
// or an error when the command cannot be started at all (no sh). With a server, the file runs in
// a child of it, or as the command when the server cannot.
func runFile(command string, i int, srv *server, files [3]*os.File) (int, usage, error) {
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if srv != nil {
		if status, used, served := srv.serveFile(i, files); served {
			return status, used, nil
		}
		srv.stop() // it could not take the file: this one runs as the command, the next gets a new server
	}
	status, err := startAndWait(command, files)
	if err != nil || lastState == nil {
		return status, usage{}, err
	}
	ru, _ := lastState.SysUsage().(*syscall.Rusage)
	return status, usageOf(ru), nil
}

// lastState is the shell's exit state of the last file (its rusage covers what it waited for).
var lastState *os.ProcessState

func startAndWait(command string, files [3]*os.File) (int, error) {
	lastState = nil
	cmd := asCommandUser(exec.Command("sh", "-c", command))
	if direct != nil { // a simple command: no shell (argv.go); the shell's PWD all the same
		cmd = asCommandUser(&exec.Cmd{Path: direct.path, Args: direct.argv})
		cmd.Env = append(cmd.Env, "PWD=/tmp")
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[1], files[2]
	if err := cmd.Start(); err != nil {
		if direct != nil { // not runnable as the command's user: sh says why, as it always did
			direct = nil
			return startAndWait(command, files)
		}
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return 127, err
		}
		return 126, err
	}
	err := cmd.Wait()
	lastState = cmd.ProcessState
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return exit.ExitCode(), nil
	}
	return 0, nil
}

// direct is the program a simple command runs without a shell (nil: through `sh -c`).
var direct *program

type program struct {
	path string
	argv []string
}

// findDirect sets direct when command is simple and its program is on PATH.
func findDirect(command string) {
	if argv, ok := simpleArgv(command); ok {
		if path, err := exec.LookPath(argv[0]); err == nil {
			direct = &program{path, argv}
		}
	}
}

func oneLine(text string) string {
	return strings.Join(strings.Fields(text), " ")
}

// asCommandUser makes cmd run as the command's user, with no supplementary groups, in its own
// process group. os/exec passes only stdin, stdout and stderr: every other descriptor is closed.
func asCommandUser(cmd *exec.Cmd) *exec.Cmd {
	cmd.Env = append(os.Environ(), "HOME=/tmp")
	cmd.Dir = "/tmp"
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: commandUID, Gid: commandGID, Groups: []uint32{}},
		Setpgid:    true,
	}
	return cmd
}

// runClean starts `codsh-runner clean` as the command's user (its processes and files are its
// own, so it needs no capability to remove them), then reaps what that left as zombies. keep
// (the fork server's PID, or 0) is spared.
func runClean(keep int) {
	self, err := os.Executable()
	if err != nil {
		self = "/proc/self/exe"
	}
	cmd := asCommandUser(exec.Command(self, "clean", strconv.Itoa(keep)))
	if err := cmd.Start(); err == nil {
		_ = cmd.Wait()
	}
	reap()
}

// reap collects every exited child; orphans of a command are re-parented to this PID 1.
func reap() {
	for {
		var ws syscall.WaitStatus
		var ru syscall.Rusage
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, &ru)
		if pid <= 0 || err != nil {
			return
		}
		orphans.add(usageOf(&ru))
	}
}

// cleanState says what a file left behind ("" when nothing): processes (the server aside),
// files, IPC objects, a server stopped.
func cleanState(srv *server) string {
	reap()
	for _, pid := range otherProcesses(false) {
		if srv == nil || pid != srv.pid || !srv.alive() {
			return "processes"
		}
	}
	if srv != nil && srv.stopped() {
		return "a stopped server"
	}
	for _, dir := range scratchDirs {
		if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
			return "files in " + dir
		}
	}
	for _, table := range []string{"shm", "msg", "sem"} {
		if data, err := os.ReadFile("/proc/sysvipc/" + table); err == nil {
			if strings.Count(strings.TrimSpace(string(data)), "\n") > 0 {
				return "System V IPC objects"
			}
		}
	}
	return ""
}

// otherProcesses lists the PIDs other than this process and PID 1 (zombies too unless asked).
func otherProcesses(skipZombies bool) []int {
	return otherThan(0, skipZombies)
}

func otherThan(keep int, skipZombies bool) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return []int{-1} // cannot tell: assume the worst
	}
	self := os.Getpid()
	var pids []int
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil || pid == 1 || pid == self || pid == keep {
			continue
		}
		if skipZombies && isZombie(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

func isZombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // gone already
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	return len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X")
}

// clean runs as the command's user: SIGKILL every process it may signal (all of the command's,
// never PID 1) until none is left alive, a fork bomb included, then empty the scratch folders.
// keep (the fork server) is spared: everything is stopped first (a stopped process cannot
// fork), the others are killed one by one, and keep is continued.
func clean(keep int) {
	deadline := time.Now().Add(cleanBudget)
	if keep > 0 {
		defer syscall.Kill(keep, syscall.SIGCONT)
	}
	for time.Now().Before(deadline) {
		if keep > 0 {
			_ = syscall.Kill(-1, syscall.SIGSTOP)
			for _, pid := range otherThan(keep, true) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		} else {
			_ = syscall.Kill(-1, syscall.SIGKILL)
		}
		if len(otherThan(keep, true)) == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for _, dir := range scratchDirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, entry := range entries {
			path := filepath.Join(dir, entry.Name())
			unlock(path)
			_ = os.RemoveAll(path)
		}
	}
}

// unlock makes every folder under path the user's to read and empty again (a command may have
// taken its own permissions away), so that os.RemoveAll can remove it.
func unlock(path string) {
	info, err := os.Lstat(path)
	if err != nil || !info.IsDir() {
		return
	}
	_ = os.Chmod(path, 0o700)
	entries, err := os.ReadDir(path)
	if err != nil {
		return
	}
	for _, entry := range entries {
		unlock(filepath.Join(path, entry.Name()))
	}
}

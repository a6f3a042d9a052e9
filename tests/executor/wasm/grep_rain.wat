;; grep_rain: a WASI preview 1 command that copies to stdout the lines of stdin containing "rain",
;; byte for byte (a last line without a newline stays without one), and exits 1 when no line matched,
;; like grep. It first reads the whole input into linear memory, growing the memory a page at a time;
;; when memory.grow is refused it says so on stderr and traps, as a C or Rust program that cannot
;; allocate would.
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))

  ;; Memory layout: [0, 8) one iovec {ptr, len}; [8, 12) the byte count of the last read or write;
  ;; [32, 57) the out-of-memory message; from 1024 on, the input.
  (memory (export "memory") 1)
  (data (i32.const 32) "grep_rain: out of memory\n")
  (global $input i32 (i32.const 1024))
  (global $page i32 (i32.const 65536))

  ;; Write all of [ptr, ptr + len) to fd; returns the WASI errno (0: all written).
  (func $write_all (param $fd i32) (param $ptr i32) (param $len i32) (result i32)
    (local $errno i32)
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $len)))
        (i32.store (i32.const 0) (local.get $ptr))
        (i32.store (i32.const 4) (local.get $len))
        (local.set $errno (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
        (if (local.get $errno) (then (return (local.get $errno))))
        (local.set $ptr (i32.add (local.get $ptr) (i32.load (i32.const 8))))
        (local.set $len (i32.sub (local.get $len) (i32.load (i32.const 8))))
        (br $more)))
    (i32.const 0))

  ;; Read all of stdin to $input; returns where it ends. Keeps a page free for each read.
  (func $read_all (result i32)
    (local $end i32)
    (local.set $end (global.get $input))
    (loop $more
      (if (i32.gt_u (i32.add (local.get $end) (global.get $page))
                    (i32.mul (memory.size) (global.get $page)))
        (then
          (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1))
            (then
              (drop (call $write_all (i32.const 2) (i32.const 32) (i32.const 25)))
              (unreachable)))))
      (i32.store (i32.const 0) (local.get $end))
      (i32.store (i32.const 4) (global.get $page))
      (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8))
        (then (call $proc_exit (i32.const 2))))
      (if (i32.load (i32.const 8))  ;; 0 bytes read: end of input
        (then
          (local.set $end (i32.add (local.get $end) (i32.load (i32.const 8))))
          (br $more))))
    (local.get $end))

  ;; 1 when "rain" occurs in [start, end), else 0.
  (func $has_rain (param $start i32) (param $end i32) (result i32)
    (block $no
      (loop $next
        (br_if $no (i32.gt_u (i32.add (local.get $start) (i32.const 4)) (local.get $end)))
        ;; the four bytes "rain" read as one little-endian i32
        (if (i32.eq (i32.load (local.get $start)) (i32.const 0x6e696172))
          (then (return (i32.const 1))))
        (local.set $start (i32.add (local.get $start) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  (func (export "_start")
    (local $end i32) (local $line i32) (local $pos i32) (local $matched i32)
    (local.set $end (call $read_all))
    (local.set $line (global.get $input))
    (block $done
      (loop $lines
        (br_if $done (i32.ge_u (local.get $line) (local.get $end)))
        ;; $pos: just past this line's newline, or the end of the input
        (local.set $pos (local.get $line))
        (block $eol
          (loop $scan
            (br_if $eol (i32.ge_u (local.get $pos) (local.get $end)))
            (local.set $pos (i32.add (local.get $pos) (i32.const 1)))
            (br_if $eol (i32.eq (i32.load8_u (i32.sub (local.get $pos) (i32.const 1))) (i32.const 10)))
            (br $scan)))
        (if (call $has_rain (local.get $line) (local.get $pos))
          (then
            (local.set $matched (i32.const 1))
            ;; stdout refused (e.g. past the output limit): stop, as grep does on EPIPE
            (if (call $write_all (i32.const 1) (local.get $line) (i32.sub (local.get $pos) (local.get $line)))
              (then (call $proc_exit (i32.const 2))))))
        (local.set $line (local.get $pos))
        (br $lines)))
    (call $proc_exit (select (i32.const 0) (i32.const 1) (local.get $matched))))
)

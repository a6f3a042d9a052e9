;; entropy: asks WASI for time and randomness, and writes what it got to stdout: the five errnos
;; (i32 little-endian) of clock_time_get(realtime), clock_time_get(monotonic), clock_res_get,
;; random_get and poll_oneoff (a 1 ms sleep), then the 8 bytes of the realtime clock, the 8 bytes of
;; the monotonic clock and the 16 random bytes. Under codsh all five calls succeed with the same
;; answers on every run: a virtual clock from 2000-01-01 and a stream seeded by the spec and file.
(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_res_get" (func $clock_res_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))

  ;; Memory layout: [0, 52) the output: errnos at 0..20, realtime at 20, monotonic at 28, random at
  ;; 36..52; [64, 72) the clock resolution (not written out); [128, 176) one poll subscription;
  ;; [192, 224) its event; [256, 264) the iovec for fd_write; [264, 268) counts.
  (memory (export "memory") 1)

  (func (export "_start")
    (i32.store (i32.const 0) (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 20)))
    (i32.store (i32.const 4) (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 28)))
    (i32.store (i32.const 8) (call $clock_res_get (i32.const 1) (i32.const 64)))
    (i32.store (i32.const 12) (call $random_get (i32.const 36) (i32.const 16)))
    ;; subscription {userdata: u64, tag: u8 = 0 (clock), clock id: u32 @16 = 1 (monotonic),
    ;; timeout: u64 @24 = 1 ms, precision: u64 @32, flags: u16 @40 = 0 (relative)}
    (i32.store (i32.const 144) (i32.const 1))
    (i64.store (i32.const 152) (i64.const 1000000))
    (i32.store (i32.const 16)
      (call $poll_oneoff (i32.const 128) (i32.const 192) (i32.const 1) (i32.const 264)))
    (i32.store (i32.const 256) (i32.const 0))
    (i32.store (i32.const 260) (i32.const 52))
    (drop (call $fd_write (i32.const 1) (i32.const 256) (i32.const 1) (i32.const 264))))
)

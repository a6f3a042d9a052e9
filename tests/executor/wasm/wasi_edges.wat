;; wasi_edges: codsh's own random_get, clock_time_get and poll_oneoff at their edges; writes to
;; stdout (little-endian) at these offsets:
;;   0 random_get past the end of memory (EFAULT, 21)      4 clock_time_get of clock 99 (EINVAL, 28)
;;   8 poll_oneoff of no subscriptions (EINVAL)           12 poll_oneoff of [fd_read 0, 10 s sleep]
;;  16 its event count (1: the fd is ready, no time passes) 20 its event's userdata (7: the fd's)
;;  28 the monotonic clock then (i64: the epoch, 2000-01-01)
;;  36 poll_oneoff of [realtime >= epoch + 5 s, absolute]  40 its event count  44 its userdata (9)
;;  52 the realtime clock then (i64: epoch + 5 s, as the sleep asked)
(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))

  ;; [0, 60) the output; [1024, 1120) two subscriptions; [2048, 2112) events; 3000 the event
  ;; count; 3008 a clock value; 3100 the iovec for fd_write.
  (memory (export "memory") 1)

  (func (export "_start")
    (i32.store (i32.const 0) (call $random_get (i32.const 65530) (i32.const 100)))
    (i32.store (i32.const 4) (call $clock_time_get (i32.const 99) (i64.const 0) (i32.const 3008)))
    (i32.store (i32.const 8)
      (call $poll_oneoff (i32.const 1024) (i32.const 2048) (i32.const 0) (i32.const 3000)))
    ;; [fd_read on fd 0 (userdata 7), a relative 10 s sleep on the monotonic clock (userdata 8)]
    (i64.store (i32.const 1024) (i64.const 7))
    (i32.store8 (i32.const 1032) (i32.const 1))
    (i32.store (i32.const 1040) (i32.const 0))
    (i64.store (i32.const 1072) (i64.const 8))
    (i32.store8 (i32.const 1080) (i32.const 0))
    (i32.store (i32.const 1088) (i32.const 1))
    (i64.store (i32.const 1096) (i64.const 10000000000))
    (i32.store (i32.const 12)
      (call $poll_oneoff (i32.const 1024) (i32.const 2048) (i32.const 2) (i32.const 3000)))
    (i32.store (i32.const 16) (i32.load (i32.const 3000)))
    (i64.store (i32.const 20) (i64.load (i32.const 2048)))
    (drop (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 3008)))
    (i64.store (i32.const 28) (i64.load (i32.const 3008)))
    ;; [realtime >= 2000-01-01 + 5 s, absolute (flags 1), userdata 9]
    (i64.store (i32.const 1024) (i64.const 9))
    (i32.store8 (i32.const 1032) (i32.const 0))
    (i32.store (i32.const 1040) (i32.const 0))
    (i64.store (i32.const 1048) (i64.const 946684805000000000))
    (i32.store16 (i32.const 1064) (i32.const 1))
    (i32.store (i32.const 36)
      (call $poll_oneoff (i32.const 1024) (i32.const 2048) (i32.const 1) (i32.const 3000)))
    (i32.store (i32.const 40) (i32.load (i32.const 3000)))
    (i64.store (i32.const 44) (i64.load (i32.const 2048)))
    (drop (call $clock_time_get (i32.const 0) (i64.const 0) (i32.const 3008)))
    (i64.store (i32.const 52) (i64.load (i32.const 3008)))
    (i32.store (i32.const 3100) (i32.const 0))
    (i32.store (i32.const 3104) (i32.const 60))
    (drop (call $fd_write (i32.const 1) (i32.const 3100) (i32.const 1) (i32.const 3000))))
)

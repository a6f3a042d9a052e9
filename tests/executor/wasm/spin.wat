;; spin: a WASI command that never ends, to test the fuel and wall-clock bounds.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $forever (br $forever))))

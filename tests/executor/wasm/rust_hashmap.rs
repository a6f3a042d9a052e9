// rust_hashmap: an ordinary Rust program that needs WASI's entropy and clocks, built by the tests
// when the wasm32-wasip1 target is installed:
//   rustc --edition 2021 -O --target wasm32-wasip1 rust_hashmap.rs -o rust_hashmap.wasm
// A HashMap seeds itself from random_get (without it: "failed to generate random data"), and
// SystemTime/Instant read the clocks. Under codsh the output is the same on every run and replica
// of a file; the HashMap's order differs from file to file.
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn main() {
    let mut data = Vec::new();
    io::stdin().read_to_end(&mut data).expect("read stdin");
    let mut words: HashMap<String, usize> = HashMap::new();
    for i in 0..16 {
        words.insert(format!("k{:02}", i), i);
    }
    let order: Vec<&str> = words.keys().map(|k| k.as_str()).collect();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970");
    let start = Instant::now();
    thread::sleep(Duration::from_millis(1500));
    let slept = start.elapsed();
    let mut out = io::stdout().lock();
    writeln!(out, "bytes {}", data.len()).unwrap();
    writeln!(out, "map {}", order.join(",")).unwrap();
    writeln!(out, "now {}", now.as_secs()).unwrap();
    writeln!(out, "slept {}", slept >= Duration::from_millis(1500)).unwrap();
}

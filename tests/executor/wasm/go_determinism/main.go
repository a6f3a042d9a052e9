// determinism: an ordinary Go program that needs what WASI gives for entropy and time, built with
// Go's own port by the tests (GOOS=wasip1 GOARCH=wasm go build -o determinism.wasm .).
//
// Go's runtime reads random_get and the clocks before main runs; math/rand, math/rand/v2,
// crypto/rand and map iteration order all come from random_get. Under codsh each line below is the
// same on every run and every replica of a file, and the random ones differ from file to file.
package main

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	mathrand "math/rand"
	randv2 "math/rand/v2"
	"os"
	"strings"
	"time"
)

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "determinism: cannot read stdin:", err)
		os.Exit(3)
	}
	fmt.Printf("input %x\n", sha256.Sum256(data))

	seen := map[string]int{}
	for i := 0; i < 16; i++ {
		seen[fmt.Sprintf("k%02d", i)] = i
	}
	var order []string
	for key := range seen {
		order = append(order, key)
	}
	fmt.Println("map", strings.Join(order, ","))

	fmt.Println("math/rand", mathrand.Int63())
	fmt.Println("math/rand/v2", randv2.Uint64())
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		fmt.Fprintln(os.Stderr, "determinism: crypto/rand:", err)
		os.Exit(4)
	}
	fmt.Printf("crypto/rand %x\n", secret)

	fmt.Println("now", time.Now().UTC().Format(time.RFC3339Nano))
	start := time.Now()
	time.Sleep(1500 * time.Millisecond)
	timer := time.NewTimer(250 * time.Millisecond)
	<-timer.C
	fmt.Println("slept", time.Since(start) >= 1750*time.Millisecond, time.Since(start).Round(time.Millisecond))
	fmt.Println("lines", strings.Count(string(data), "\n"))
}

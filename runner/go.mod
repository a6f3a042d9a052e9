module codsh.dev/runner

go 1.21

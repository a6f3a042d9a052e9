module codsh.test/determinism

go 1.21

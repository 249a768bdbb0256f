module github.com/sperse/sperse

go 1.26.8

require (
	github.com/fxamacker/cbor/v2 v2.10.0
	github.com/quic-go/quic-go v0.65.0
	go.starlark.net v0.0.0-20260908191801-89a6a09411d5
)

require (
	github.com/x448/float16 v0.8.4 // indirect
	golang.org/x/sys v0.47.0 // indirect
)

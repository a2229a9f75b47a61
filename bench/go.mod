module github.com/tetherkit/tether/bench

go 1.25.0

require (
	github.com/tetherkit/tether v0.0.0
	github.com/vmihailenco/msgpack/v5 v5.4.1
)

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	github.com/fxamacker/cbor/v2 v2.9.6 // indirect
	github.com/jonboulle/clockwork v0.5.0 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	github.com/x448/float16 v0.8.4 // indirect
)

replace github.com/tetherkit/tether => ../

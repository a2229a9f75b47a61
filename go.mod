module github.com/tetherkit/tether

go 1.25.0

require (
	github.com/cenkalti/backoff/v4 v4.3.0
	github.com/jonboulle/clockwork v0.5.0
	github.com/miekg/dns v1.1.73
	go.uber.org/goleak v1.3.0
	golang.org/x/net v0.58.0
)

require golang.org/x/sys v0.47.0 // indirect

#!/usr/bin/env bash
# Regenerates echopb/*.pb.go from echo.proto (the generated code is committed:
# run.sh does not need protoc). Needs protoc (apt-get install protobuf-compiler)
# and the two plugins at the versions the generated files name:
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
#   go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
set -euo pipefail
cd "$(dirname "$0")"
module=github.com/tetherkit/tether/bench/peers
protoc --go_out=. --go_opt=module=$module/grpc \
	--go-grpc_out=. --go-grpc_opt=module=$module/grpc echo.proto

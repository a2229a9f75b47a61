package main

import (
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(&out, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`lookup rope: "" NotFound`,
		`rpc_calls_total{class="OK",method="dict.lookup",side="client"} 2`,
		`rpc_calls_total{class="OK",method="dict.lookup",side="server"} 2`,
		`rpc_calls_total{class="NotFound",method="dict.lookup",side="client"} 1`,
		`rpc_calls_total{class="NotFound",method="dict.lookup",side="server"} 1`,
		`rpc_connections_open 2`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

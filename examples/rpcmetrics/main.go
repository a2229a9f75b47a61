// rpcmetrics serves tether rpc calls and exports their metrics to
// Prometheus, through rpc's stats hook (Config.Stats): it starts a server
// and a client on 127.0.0.1, makes a few calls, one of which fails, and
// prints what a Prometheus scrape of /metrics shows about them.
//
//	go run .           # the calls, then the scraped metrics
//	go run . -serve    # and then keep serving /metrics until interrupted
//
// It is a module of its own, so that tether does not depend on the
// Prometheus client.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/rpc"
)

var lookup = rpc.NewMethod[string, string]("dict.lookup", 1)

func main() {
	serve := flag.Bool("serve", false, "keep serving /metrics after the demonstration")
	flag.Parse()
	if err := run(os.Stdout, *serve); err != nil {
		log.Fatal(err)
	}
}

// run starts everything, makes the calls, prints the scrape, and with serve
// waits for an interrupt.
func run(out io.Writer, serve bool) error {
	reg := prometheus.NewRegistry()
	metrics := NewMetrics(reg)

	words := map[string]string{"tether": "a rope that keeps something within reach"}
	var hs rpc.Handlers
	lookup.Implement(&hs, func(_ context.Context, word string) (string, error) {
		if def, ok := words[word]; ok {
			return def, nil
		}
		return "", rpc.WithClass(fmt.Errorf("no word %q", word), rpc.NotFound)
	})
	srv, err := rpc.NewServer(rpc.Config{Handlers: &hs, Stats: metrics})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go srv.Serve(l)
	defer srv.Close(context.Background())

	client, err := rpc.NewClient(rpc.ClientConfig{ServerName: "dict", Resolver: addr.Static(l.Addr().String()),
		Conn: rpc.Config{Stats: metrics}})
	if err != nil {
		return err
	}
	defer client.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, w := range []string{"tether", "tether", "rope"} {
		def, err := lookup.Call(ctx, client, w)
		fmt.Fprintf(out, "lookup %s: %q %v\n", w, def, rpc.ClassOf(err))
	}

	ml, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hsrv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	go hsrv.Serve(ml)
	defer hsrv.Close()
	url := "http://" + ml.Addr().String() + "/metrics"
	if err := scrape(out, url); err != nil {
		return err
	}
	if serve {
		fmt.Fprintln(out, "serving", url, "until interrupted")
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, os.Interrupt)
		<-stop
	}
	return nil
}

// scrape prints the calls_total and connections lines of a scrape.
func scrape(out io.Writer, url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "rpc_calls_total{") || strings.HasPrefix(line, "rpc_connections_open ") {
			fmt.Fprintln(out, line)
		}
	}
	return sc.Err()
}

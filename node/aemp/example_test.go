package aemp_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log"
	"net"

	"github.com/tetherkit/tether/node/aemp"
)

// Two Go nodes on loopback: handshake, then one message each way.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()

	accepted := make(chan *aemp.Link, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		link, err := aemp.Handshake(context.Background(), c, aemp.Config{NodeID: "b", Secret: "geheim"})
		if err != nil {
			log.Fatal(err)
		}
		accepted <- link
	}()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	a, err := aemp.Handshake(context.Background(), c, aemp.Config{NodeID: "a", Secret: "geheim"})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Conn.Close()
	b := <-accepted
	defer b.Conn.Close()
	fmt.Println("a talks to", a.PeerID, "sending", a.SendFraming, "authenticated by", a.RecvAuth)

	// a sends to port "inbox" on b.
	if err := a.NewEncoder().Encode([]any{"inbox", "hello", int64(42)}); err != nil {
		log.Fatal(err)
	}
	if err := a.Writer.Flush(); err != nil {
		log.Fatal(err)
	}
	frame, err := b.NewDecoder().Decode()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("b got", frame)
	// Output:
	// a talks to b sending msgpack authenticated by hmac_sha3_512
	// b got [inbox hello 42]
}

// The handshake as a state machine, fed by hand: here, a Perl node's lines
// as recorded (transcript 04), answered in the probe's place.
func ExampleHandshaker() {
	h, err := aemp.NewHandshaker(aemp.HandshakeConfig{
		NodeID:    "gonode",
		Secret:    "geheim",
		AuthOffer: []string{aemp.AuthCleartext},
		Framings:  []string{aemp.FramingJSON},
		Nonce:     "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BB",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("send %q\n", bytes.SplitAfter(h.Start(), []byte("\n"))[0])

	out, _ := h.Step("aemp;1;peer;tls_sha3_512,hmac_sha3_512,tls_anon,cleartext;cbor,json,storable;provider=AE-2.01\n")
	fmt.Println("peer is", out.Greeting.NodeID) // the node checks "already connected?" here
	out, _ = h.Step("q9sqwn/oqtmDGKo4eegM0w0He1fNLjroDmTqeaZeCxhmGr175geOcfhDAD3f8Swipagx9x0JotdzyD/hYgw5WE28\n")
	fmt.Printf("send %q\n", out.Send)
	_, err = h.Step("hmac_sha3_512;0000;json\n")
	fmt.Println(err)
	// Output:
	// send "aemp;1;gonode;tls_sha3_512,hmac_sha3_512,tls_anon,cleartext;json\n"
	// peer is peer
	// send "cleartext;67656865696d;json\n"
	// aemp handshake with peer: authentication failure/shared secret mismatch (hmac_sha3_512 token does not verify)
}

// Frames back to back through a framing, with values normalized first.
func ExampleFraming() {
	frame, err := aemp.NormalizeFrame([]any{"", "kil1", "port", "reason", 3, []string{"a", "b"}})
	if err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer
	enc := aemp.CBOR.NewEncoder(&buf, aemp.Limits{})
	_ = enc.Encode(frame)
	_ = enc.Encode([]any{"p1", "pong", 1.5})
	fmt.Printf("%x\n", buf.Bytes())

	dec := aemp.CBOR.NewDecoder(bufio.NewReader(&buf), aemp.Limits{MaxFrameSize: 1 << 20})
	for {
		f, err := dec.Decode()
		if err != nil {
			fmt.Println(err)
			break
		}
		k, _ := aemp.ParseRequest(f)
		fmt.Printf("%v %q\n", f, k.Tag)
	}
	// Output:
	// 8660646b696c3164706f727466726561736f6e0382616161628362703164706f6e67fa3fc00000
	// [ kil1 port reason 3 [a b]] "kil1"
	// [p1 pong 1.5] ""
	// EOF
}

// Normalize puts Go values into the message model, or says why it cannot.
func ExampleNormalize() {
	v, err := aemp.Normalize(map[string][]int{"ids": {1, 2}})
	fmt.Printf("%#v %v\n", v, err)
	_, err = aemp.Normalize([]any{"ok", struct{}{}})
	fmt.Println(err)
	// Output:
	// map[string]interface {}{"ids":[]interface {}{1, 2}} <nil>
	// aemp: value at [1]: unsupported type: struct {}
}

// A node-port request parsed and answered.
func ExampleParseKill() {
	r, _ := aemp.ParseRequest([]any{"", "kil0", "OGAPPWTAfc", "die", "asked to die"})
	k, _ := aemp.ParseKill(r)
	fmt.Println(k.Port, k.Notice, k.Reason)
	fmt.Println(aemp.Monitor{Port: "OGAPPWTAfc", Start: true}.Frame())
	// Output:
	// OGAPPWTAfc true [die asked to die]
	// [ mon1 OGAPPWTAfc]
}

// A reader that routes frames without decoding them: DecodeLazy finds the
// port, consecutive messages to one port join into one Rest, and an
// Unpacker (on whatever goroutine runs the port) decodes them one by one.
func ExampleLazyDecoder() {
	var wire bytes.Buffer
	enc := aemp.Msgpack.NewEncoder(&wire, aemp.Limits{})
	for i := range 3 {
		_ = enc.Encode([]any{"inbox", "tick", int64(i)})
	}
	dec := aemp.Msgpack.NewDecoder(bufio.NewReader(&wire), aemp.Limits{}).(aemp.LazyDecoder)

	var runs []aemp.Rest // messages for "inbox", still encoded
	for range 3 {
		_, port, rest, err := dec.DecodeLazy()
		if err != nil || string(port) != "inbox" {
			log.Fatal(port, err)
		}
		if len(runs) == 0 || !runs[len(runs)-1].Join(rest) {
			runs = append(runs, rest)
		}
	}
	fmt.Println(len(runs), "run")

	u := aemp.NewUnpacker(aemp.Limits{})
	for i := range runs {
		for runs[i].Len() > 0 {
			msg, err := u.Unpack(&runs[i])
			if err != nil {
				log.Fatal(err)
			}
			fmt.Println(msg)
		}
	}
	// Output:
	// 1 run
	// [tick 0]
	// [tick 1]
	// [tick 2]
}

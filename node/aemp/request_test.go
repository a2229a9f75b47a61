package aemp_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/tetherkit/tether/node/aemp"
)

func req(t *testing.T, frame ...any) aemp.Request {
	t.Helper()
	r, err := aemp.ParseRequest(frame)
	if err != nil {
		t.Fatalf("ParseRequest(%s): %v", show(frame), err)
	}
	return r
}

// Frames from the recordings, parsed and rebuilt.
func TestRequestsRoundTrip(t *testing.T) {
	frames := [][]any{
		{"", "mon1", "OGAPPWTAfc"},
		{"", "mon0", "OGAPPWTAfe"},
		{"", "kil0", "nosuchport", "no_such_port", "cannot monitor nonexistent port", "peer#nosuchport"},
		{"", "kil1", "OtAMg7y1Ed", "my_reason", "some detail", int64(3)},
		{"", "kil1", "k2"},
		{"", "snd", "gonode#s1", "relayed", int64(1), map[string]any{"k": "v"}},
		{"", "time", "gonode#t2", "extra1", "extra2"},
		{"", "can", "snd", "gonode#c3", "x"},
		{"", "eval", "1+2", "gonode#v1"},
		{"", "eval", "1+2"},
		{"", "AnyEvent::MP::_spawn", "GoProbe00Xb", "::interop_init", "gonode#sp1", "extra1"},
		{"", "g_slave", map[string]any{"'l": map[string]any{"gonode": []any{"127.0.0.1:4999"}}}},
		{"", "g_set", map[string]any{"'g": map[string]any{"seed": nil}}},
		{"", "g_upd", "gofam", map[string]any{"k2": "v2"}, []any{}},
		{"", "g_upd", "gofam", nil, []any{"k1"}},
		{"", "g_chg2", "interop_fam", map[string]any{}, []any{"pk"}},
		{"", "g_find", "peer"},
		{"", "g_found", "peer", []any{"127.0.0.1:4152"}},
		{"", "g_found", "nosuchnode", nil},
		{"", "g_db_keys", "'l", "q2"},
		{"", "g_db_family", "interop_echo", "b"},
		{"", "g_mon1", "gofam"},
		{"", "g_mon0", "gofam"},
		{"", "g_chg1", "gofam", map[string]any{"k1": "v1"}},
		{"", "g_chg1", "interop_fam", nil},
	}
	for _, f := range frames {
		r := req(t, f...)
		var rebuilt []any
		var err error
		switch r.Tag {
		case aemp.ReqMon0, aemp.ReqMon1:
			var m aemp.Monitor
			m, err = aemp.ParseMonitor(r)
			rebuilt = m.Frame()
		case aemp.ReqKil0, aemp.ReqKil1:
			var k aemp.Kill
			k, err = aemp.ParseKill(r)
			rebuilt = k.Frame()
		case aemp.ReqSnd:
			var s aemp.Relay
			s, err = aemp.ParseRelay(r)
			rebuilt = s.Frame()
		case aemp.ReqTime, aemp.ReqCan, aemp.ReqEval:
			var q aemp.Query
			q, err = aemp.ParseQuery(r)
			rebuilt = q.Frame()
		case aemp.ReqSpawn:
			var s aemp.Spawn
			s, err = aemp.ParseSpawn(r)
			rebuilt = s.Frame()
		case aemp.ReqGSlave, aemp.ReqGSet:
			var db aemp.DB
			db, err = aemp.ParseDB(r)
			rebuilt = aemp.Request{Tag: r.Tag, Args: []any{db}}.Frame()
		case aemp.ReqGUpd, aemp.ReqGChg2:
			var c aemp.DBChange
			c, err = aemp.ParseDBChange(r)
			rebuilt = c.Frame()
		case aemp.ReqGFind, aemp.ReqGFound:
			var fd aemp.Find
			fd, err = aemp.ParseFind(r)
			rebuilt = fd.Frame()
		case aemp.ReqGDBKeys, aemp.ReqGDBFamily, aemp.ReqGDBValues:
			var q aemp.DBQuery
			q, err = aemp.ParseDBQuery(r)
			rebuilt = q.Frame()
		case aemp.ReqGMon1, aemp.ReqGMon0, aemp.ReqGChg1:
			var m aemp.FamilyMonitor
			m, err = aemp.ParseFamilyMonitor(r)
			rebuilt = m.Frame()
		default:
			t.Fatalf("no parser for %q", r.Tag)
		}
		if err != nil || !equal(rebuilt, f, false) {
			t.Errorf("%s: rebuilt %s, %v", show(f), show(rebuilt), err)
		}
	}
}

func TestRequestDetails(t *testing.T) {
	k, _ := aemp.ParseKill(req(t, "", "kil0", "P", "die", "oops"))
	if !k.Notice || k.Port != "P" || !reflect.DeepEqual(k.Reason, []any{"die", "oops"}) {
		t.Errorf("%+v", k)
	}
	q, _ := aemp.ParseQuery(req(t, "", "time", "gonode#t2", "extra1", "extra2"))
	if q.Reply.Port != "gonode#t2" || !equal(q.Reply.Message(1.5), []any{"extra1", "extra2", 1.5}, false) {
		t.Errorf("%+v", q)
	}
	q, _ = aemp.ParseQuery(req(t, "", "can", "mon1", "gonode#c1"))
	if q.Subject != "mon1" || q.Reply.Port != "gonode#c1" || len(q.Reply.Message("1")) != 1 {
		t.Errorf("%+v", q)
	}
	c, _ := aemp.ParseDBChange(req(t, "", "g_upd", "interop_fam", map[string]any{"a": int64(1)}))
	if c.Del != nil || c.Set["a"] != int64(1) {
		t.Errorf("four-element g_upd: %+v", c) // a Perl slave leaves out an empty deletion list
	}
	if !equal(c.Frame(), []any{"", "g_upd", "interop_fam", map[string]any{"a": int64(1)}, []any{}}, false) {
		t.Errorf("%s", show(c.Frame()))
	}
	f, _ := aemp.ParseFind(req(t, "", "g_found", "ghost", nil))
	if f.Known || f.Addrs != nil {
		t.Errorf("%+v", f)
	}
	dq, _ := aemp.ParseDBQuery(req(t, "", "g_db_keys", "'l", "q2"))
	if !equal(dq.Reply([]any{"a"}), []any{"", "g_reply", "q2", []any{"a"}}, false) {
		t.Errorf("%s", show(dq.Reply(nil)))
	}
	rp, _ := aemp.ParseDBReply(req(t, "", "g_reply", "q2", []any{"a"}))
	if rp.ID != "q2" {
		t.Errorf("%+v", rp)
	}
	db, err := aemp.ParseDB(req(t, "", "g_slave"))
	if err != nil || db != nil {
		t.Errorf("bare g_slave: %v %v", db, err)
	}
}

func TestRequestErrors(t *testing.T) {
	if _, err := aemp.ParseRequest([]any{"port", "x"}); !errors.Is(err, aemp.ErrBadRequest) {
		t.Errorf("not the node port: %v", err)
	}
	if _, err := aemp.ParseRequest([]any{}); !errors.Is(err, aemp.ErrBadRequest) {
		t.Errorf("empty frame: %v", err)
	}
	if _, err := aemp.ParseRequest([]any{""}); !errors.Is(err, aemp.ErrBadRequest) {
		t.Errorf("no tag: %v", err)
	}
	if _, err := aemp.ParseRequest([]any{"", int64(1)}); !errors.Is(err, aemp.ErrBadRequest) {
		t.Errorf("int tag: %v", err)
	}
	bad := []struct {
		frame []any
		parse func(aemp.Request) error
	}{
		{[]any{"", "mon1"}, func(r aemp.Request) error { _, err := aemp.ParseMonitor(r); return err }},
		{[]any{"", "mon1", int64(1)}, func(r aemp.Request) error { _, err := aemp.ParseMonitor(r); return err }},
		{[]any{"", "kil1", "p"}, func(r aemp.Request) error { _, err := aemp.ParseMonitor(r); return err }},
		{[]any{"", "kil1"}, func(r aemp.Request) error { _, err := aemp.ParseKill(r); return err }},
		{[]any{"", "snd", nil}, func(r aemp.Request) error { _, err := aemp.ParseRelay(r); return err }},
		{[]any{"", "time"}, func(r aemp.Request) error { _, err := aemp.ParseQuery(r); return err }},
		{[]any{"", "can", "mon1"}, func(r aemp.Request) error { _, err := aemp.ParseQuery(r); return err }},
		{[]any{"", "can", int64(1), "a#b"}, func(r aemp.Request) error { _, err := aemp.ParseQuery(r); return err }},
		{[]any{"", "devnull"}, func(r aemp.Request) error { _, err := aemp.ParseQuery(r); return err }},
		{[]any{"", aemp.ReqSpawn, "name"}, func(r aemp.Request) error { _, err := aemp.ParseSpawn(r); return err }},
		{[]any{"", "g_set"}, func(r aemp.Request) error { _, err := aemp.ParseDB(r); return err }},
		{[]any{"", "g_slave", map[string]any{"f": "not a map"}}, func(r aemp.Request) error { _, err := aemp.ParseDB(r); return err }},
		{[]any{"", "g_upd", "f", "x"}, func(r aemp.Request) error { _, err := aemp.ParseDBChange(r); return err }},
		{[]any{"", "g_upd", "f", nil, []any{int64(1)}}, func(r aemp.Request) error { _, err := aemp.ParseDBChange(r); return err }},
		{[]any{"", "g_found", "n", "addr"}, func(r aemp.Request) error { _, err := aemp.ParseFind(r); return err }},
		{[]any{"", "g_db_keys", "f"}, func(r aemp.Request) error { _, err := aemp.ParseDBQuery(r); return err }},
		{[]any{"", "g_reply", "id"}, func(r aemp.Request) error { _, err := aemp.ParseDBReply(r); return err }},
		{[]any{"", "g_chg1", "f", []any{}}, func(r aemp.Request) error { _, err := aemp.ParseFamilyMonitor(r); return err }},
	}
	for _, b := range bad {
		err := b.parse(req(t, b.frame...))
		var re *aemp.RequestError
		if !errors.Is(err, aemp.ErrBadRequest) || !errors.As(err, &re) {
			t.Errorf("%s: %v", show(b.frame), err)
		}
	}
}

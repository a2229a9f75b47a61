package aemp

import (
	"errors"
	"fmt"
)

// The node-port vocabulary: names, builders and parsers for the requests
// nodes send each other's node port, with arity and type checks and no
// behaviour. A frame is [portname, args…]; the node port's name is "", and
// its first argument is the request tag. Port names inside these requests are
// bare names on the receiving node (P in mon1/kil0/kil1, the spawn name);
// ports that receive replies are full port IDs ("node#name").

// NodePort is the name of the node port.
const NodePort = ""

// Node-port request tags (AnyEvent::MP 2.x).
const (
	ReqMon1    = "mon1"                 // ["", "mon1", P]: tell me when your port P dies
	ReqMon0    = "mon0"                 // ["", "mon0", P]: stop telling me
	ReqKil0    = "kil0"                 // ["", "kil0", P, reason…]: your monitored port P on my node died
	ReqKil1    = "kil1"                 // ["", "kil1", P, reason…]: kill your port P
	ReqSnd     = "snd"                  // ["", "snd", portID, msg…]: send msg to portID for me
	ReqCan     = "can"                  // ["", "can", tag, reply…]: do you support tag? ("1" or "")
	ReqEval    = "eval"                 // ["", "eval", perl, reply…]: Perl only
	ReqTime    = "time"                 // ["", "time", reply…]: your clock, float seconds
	ReqDevnull = "devnull"              // ["", "devnull", …]: ignored
	ReqNop     = ""                     // ["", "", …]: ignored
	ReqSpawn   = "AnyEvent::MP::_spawn" // ["", ReqSpawn, name, func, args…]
)

// Global (registry) protocol tags.
const (
	ReqGSlave    = "g_slave"     // ["", "g_slave"] / ["", "g_slave", {family: {key: value}}]
	ReqGGlobal   = "g_global"    // ["", "g_global"]: I am a global node
	ReqGSet      = "g_set"       // ["", "g_set", {family: {key: value}}]
	ReqGUpd      = "g_upd"       // ["", "g_upd", family, {set}|null[, [del…]]]
	ReqGFind     = "g_find"      // ["", "g_find", node]
	ReqGFound    = "g_found"     // ["", "g_found", node, [addr…]|null]
	ReqGDBFamily = "g_db_family" // ["", "g_db_family", family, id]
	ReqGDBKeys   = "g_db_keys"   // ["", "g_db_keys", family, id]
	ReqGDBValues = "g_db_values" // ["", "g_db_values", family, id]
	ReqGReply    = "g_reply"     // ["", "g_reply", id, result]
	ReqGMon1     = "g_mon1"      // ["", "g_mon1", family]
	ReqGMon0     = "g_mon0"      // ["", "g_mon0", family]
	ReqGChg1     = "g_chg1"      // ["", "g_chg1", family, {all}|null]
	ReqGChg2     = "g_chg2"      // ["", "g_chg2", family, {set}, [del…]]
)

// ErrBadRequest is the reason of a *RequestError.
var ErrBadRequest = errors.New("bad node-port request")

// RequestError reports a node-port frame whose shape does not fit its tag.
type RequestError struct {
	Tag    string // the request tag, if there was one
	Detail string // what is wrong
}

// Error returns "aemp: bad node-port request TAG: DETAIL".
func (e *RequestError) Error() string {
	return fmt.Sprintf("aemp: bad node-port request %q: %s", e.Tag, e.Detail)
}

// Is reports whether target is ErrBadRequest.
func (e *RequestError) Is(target error) bool { return target == ErrBadRequest }

func badRequest(tag, format string, args ...any) error {
	return &RequestError{Tag: tag, Detail: fmt.Sprintf(format, args...)}
}

// Request is a frame for the node port, ["", Tag, Args…].
type Request struct {
	Tag  string
	Args []any
}

// ParseRequest splits a node-port frame into tag and arguments. It returns a
// *RequestError if frame is not addressed to the node port or has no string
// tag. Args aliases frame.
func ParseRequest(frame []any) (Request, error) {
	if len(frame) == 0 || frame[0] != NodePort {
		return Request{}, badRequest("", "not addressed to the node port")
	}
	if len(frame) < 2 {
		return Request{}, badRequest("", "no tag")
	}
	tag, ok := frame[1].(string)
	if !ok {
		return Request{}, badRequest("", "tag is a %s, not a string", modelTypeName(frame[1]))
	}
	return Request{Tag: tag, Args: frame[2:]}, nil
}

// Frame returns the request as a frame, ["", Tag, Args…].
func (r Request) Frame() []any {
	return append([]any{NodePort, r.Tag}, r.Args...)
}

// arity checks r has a tag among tags and at least n arguments.
func (r Request) arity(n int, tags ...string) error {
	for _, t := range tags {
		if r.Tag == t {
			if len(r.Args) < n {
				return badRequest(r.Tag, "%d arguments, want at least %d", len(r.Args), n)
			}
			return nil
		}
	}
	return badRequest(r.Tag, "want %v", tags)
}

// str returns argument i as a string.
func (r Request) str(i int, what string) (string, error) {
	s, ok := r.Args[i].(string)
	if !ok {
		return "", badRequest(r.Tag, "%s is a %s, not a string", what, modelTypeName(r.Args[i]))
	}
	return s, nil
}

// ReplyTo is a reply spec: replies go to Port (a full port ID) as
// [Extra…, result…].
type ReplyTo struct {
	Port  string
	Extra []any
}

// Message returns what to send to r.Port: Extra followed by result.
func (r ReplyTo) Message(result ...any) []any {
	return append(append(make([]any, 0, len(r.Extra)+len(result)), r.Extra...), result...)
}

func (r ReplyTo) args() []any {
	if r.Port == "" {
		return nil
	}
	return append([]any{r.Port}, r.Extra...)
}

// replyTo parses a reply spec from argument i on; a missing one is the zero
// ReplyTo unless required.
func (r Request) replyTo(i int, required bool) (ReplyTo, error) {
	if len(r.Args) <= i {
		if required {
			return ReplyTo{}, badRequest(r.Tag, "no reply port")
		}
		return ReplyTo{}, nil
	}
	p, err := r.str(i, "reply port")
	if err != nil {
		return ReplyTo{}, err
	}
	return ReplyTo{Port: p, Extra: r.Args[i+1:]}, nil
}

// Monitor is mon1 (Start) or mon0: start or stop monitoring the receiver's
// port Port on behalf of the sender.
type Monitor struct {
	Port  string
	Start bool
}

// ParseMonitor parses a mon1 or mon0 request; extra arguments are ignored.
// It returns a *RequestError for another tag or a port that is not a string.
func ParseMonitor(r Request) (Monitor, error) {
	if err := r.arity(1, ReqMon1, ReqMon0); err != nil {
		return Monitor{}, err
	}
	p, err := r.str(0, "port")
	return Monitor{Port: p, Start: r.Tag == ReqMon1}, err
}

// Frame returns ["", "mon1"|"mon0", Port].
func (m Monitor) Frame() []any {
	tag := ReqMon0
	if m.Start {
		tag = ReqMon1
	}
	return []any{NodePort, tag, m.Port}
}

// Kill is kil1 (a request to kill the receiver's port Port) or, with
// Notice, kil0 (a notice that the sender's port Port, which the receiver
// monitors, died). An empty Reason is a normal kill.
type Kill struct {
	Port   string
	Reason []any
	Notice bool
}

// ParseKill parses a kil1 or kil0 request. It returns a *RequestError for
// another tag or a port that is not a string.
func ParseKill(r Request) (Kill, error) {
	if err := r.arity(1, ReqKil1, ReqKil0); err != nil {
		return Kill{}, err
	}
	p, err := r.str(0, "port")
	return Kill{Port: p, Reason: r.Args[1:], Notice: r.Tag == ReqKil0}, err
}

// Frame returns ["", "kil1"|"kil0", Port, Reason…].
func (k Kill) Frame() []any {
	tag := ReqKil1
	if k.Notice {
		tag = ReqKil0
	}
	return append([]any{NodePort, tag, k.Port}, k.Reason...)
}

// Relay is snd: the receiver sends Msg to Port (a full port ID) for the
// sender.
type Relay struct {
	Port string
	Msg  []any
}

// ParseRelay parses a snd request. It returns a *RequestError for another
// tag or a port that is not a string.
func ParseRelay(r Request) (Relay, error) {
	if err := r.arity(1, ReqSnd); err != nil {
		return Relay{}, err
	}
	p, err := r.str(0, "port")
	return Relay{Port: p, Msg: r.Args[1:]}, err
}

// Frame returns ["", "snd", Port, Msg…].
func (s Relay) Frame() []any { return append([]any{NodePort, ReqSnd, s.Port}, s.Msg...) }

// Query is one of the requests that answer through a reply spec: time
// (Subject empty), can (Subject is the tag asked about) and eval (Subject is
// Perl code; a Go node cannot evaluate it).
type Query struct {
	Tag     string // ReqTime, ReqCan or ReqEval
	Subject string
	Reply   ReplyTo // for eval it may be empty: no reply wanted
}

// ParseQuery parses a time, can or eval request. time and can need a reply
// port. It returns a *RequestError for another tag, a missing reply port or
// a subject or port that is not a string.
func ParseQuery(r Request) (Query, error) {
	q := Query{Tag: r.Tag}
	var err error
	switch r.Tag {
	case ReqTime:
		q.Reply, err = r.replyTo(0, true)
	case ReqCan, ReqEval:
		if err = r.arity(1, r.Tag); err != nil {
			return Query{}, err
		}
		if q.Subject, err = r.str(0, "subject"); err != nil {
			return Query{}, err
		}
		q.Reply, err = r.replyTo(1, r.Tag == ReqCan)
	default:
		err = badRequest(r.Tag, "want time, can or eval")
	}
	if err != nil {
		return Query{}, err
	}
	return q, nil
}

// Frame returns ["", Tag, [Subject,] Reply.Port, Reply.Extra…].
func (q Query) Frame() []any {
	f := []any{NodePort, q.Tag}
	if q.Tag != ReqTime {
		f = append(f, q.Subject)
	}
	return append(f, q.Reply.args()...)
}

// Spawn is AnyEvent::MP::_spawn: create the port Name (chosen by the
// caller) on the receiver and run the init function Func in it with Args.
type Spawn struct {
	Name, Func string
	Args       []any
}

// ParseSpawn parses a spawn request. It returns a *RequestError for another
// tag, fewer than two arguments or a name or function that is not a string.
func ParseSpawn(r Request) (Spawn, error) {
	if err := r.arity(2, ReqSpawn); err != nil {
		return Spawn{}, err
	}
	name, err := r.str(0, "port name")
	if err != nil {
		return Spawn{}, err
	}
	fn, err := r.str(1, "init function")
	if err != nil {
		return Spawn{}, err
	}
	return Spawn{Name: name, Func: fn, Args: r.Args[2:]}, nil
}

// Frame returns ["", ReqSpawn, Name, Func, Args…].
func (s Spawn) Frame() []any {
	return append([]any{NodePort, ReqSpawn, s.Name, s.Func}, s.Args...)
}

// DB is the registry's whole-database shape, family → key → value, as
// carried by g_slave and g_set.
type DB = map[string]any

// ParseDB parses the optional database argument of g_slave (nil when
// absent: a bare g_slave) or the required one of g_set. It returns a
// *RequestError for another tag or an argument that is not a map of maps.
func ParseDB(r Request) (DB, error) {
	switch r.Tag {
	case ReqGSlave:
		if len(r.Args) == 0 {
			return nil, nil
		}
	case ReqGSet:
		if err := r.arity(1, ReqGSet); err != nil {
			return nil, err
		}
	default:
		return nil, badRequest(r.Tag, "want g_slave or g_set")
	}
	db, ok := r.Args[0].(map[string]any)
	if !ok {
		return nil, badRequest(r.Tag, "database is a %s, not a map", modelTypeName(r.Args[0]))
	}
	for f, fam := range db {
		if _, ok := fam.(map[string]any); !ok {
			return nil, badRequest(r.Tag, "family %q is a %s, not a map", f, modelTypeName(fam))
		}
	}
	return db, nil
}

// DBChange is g_upd (a node tells its master, or a global tells the other
// globals) or g_chg2 (a master tells a monitoring node): in Family, Set
// keys were set or changed, Del keys deleted.
type DBChange struct {
	Tag    string // ReqGUpd or ReqGChg2
	Family string
	Set    map[string]any // nil: none (g_upd sends null for a pure deletion)
	Del    []string
}

// ParseDBChange parses g_upd or g_chg2. A Perl slave leaves out the deletion
// list of g_upd when it is empty; that is accepted. It returns a
// *RequestError for another tag or arguments of the wrong types.
func ParseDBChange(r Request) (DBChange, error) {
	if err := r.arity(2, ReqGUpd, ReqGChg2); err != nil {
		return DBChange{}, err
	}
	c := DBChange{Tag: r.Tag}
	var err error
	if c.Family, err = r.str(0, "family"); err != nil {
		return DBChange{}, err
	}
	switch set := r.Args[1].(type) {
	case nil:
	case map[string]any:
		c.Set = set
	default:
		return DBChange{}, badRequest(r.Tag, "set is a %s, not a map or null", modelTypeName(set))
	}
	if len(r.Args) > 2 {
		if c.Del, err = stringList(r, r.Args[2], "deletion list"); err != nil {
			return DBChange{}, err
		}
	}
	return c, nil
}

// Frame returns ["", Tag, Family, Set (null if nil), [Del…]].
func (c DBChange) Frame() []any {
	var set any
	if c.Set != nil {
		set = c.Set
	}
	return []any{NodePort, c.Tag, c.Family, set, stringsToList(c.Del)}
}

func stringList(r Request, v any, what string) ([]string, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, badRequest(r.Tag, "%s is a %s, not a list", what, modelTypeName(v))
	}
	out := make([]string, len(l))
	for i, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, badRequest(r.Tag, "%s element %d is a %s, not a string", what, i, modelTypeName(e))
		}
		out[i] = s
	}
	return out, nil
}

func stringsToList(s []string) []any {
	l := make([]any, len(s))
	for i, e := range s {
		l[i] = e
	}
	return l
}

// Find is g_find (Addrs unused) or g_found (Known says whether the master
// knows Node; Addrs are its listen addresses).
type Find struct {
	Tag   string // ReqGFind or ReqGFound
	Node  string
	Known bool
	Addrs []string
}

// ParseFind parses g_find or g_found. It returns a *RequestError for another
// tag or arguments of the wrong types.
func ParseFind(r Request) (Find, error) {
	if err := r.arity(1, ReqGFind, ReqGFound); err != nil {
		return Find{}, err
	}
	f := Find{Tag: r.Tag}
	var err error
	if f.Node, err = r.str(0, "node"); err != nil {
		return Find{}, err
	}
	if r.Tag == ReqGFound && len(r.Args) > 1 && r.Args[1] != nil {
		if f.Addrs, err = stringList(r, r.Args[1], "address list"); err != nil {
			return Find{}, err
		}
		f.Known = true
	}
	return f, nil
}

// Frame returns ["", "g_find", Node] or ["", "g_found", Node, [Addrs…]|null].
func (f Find) Frame() []any {
	if f.Tag == ReqGFind {
		return []any{NodePort, ReqGFind, f.Node}
	}
	var addrs any
	if f.Known {
		addrs = stringsToList(f.Addrs)
	}
	return []any{NodePort, ReqGFound, f.Node, addrs}
}

// DBQuery is g_db_family, g_db_keys or g_db_values about Family; the answer
// is ["", "g_reply", ID, result]. ID is whatever the asker sent (Perl sends
// strings), echoed unchanged.
type DBQuery struct {
	Tag    string // ReqGDBFamily, ReqGDBKeys or ReqGDBValues
	Family string
	ID     any
}

// ParseDBQuery parses a g_db_* query. It returns a *RequestError for another
// tag, a missing ID or a family that is not a string.
func ParseDBQuery(r Request) (DBQuery, error) {
	if err := r.arity(2, ReqGDBFamily, ReqGDBKeys, ReqGDBValues); err != nil {
		return DBQuery{}, err
	}
	fam, err := r.str(0, "family")
	if err != nil {
		return DBQuery{}, err
	}
	return DBQuery{Tag: r.Tag, Family: fam, ID: r.Args[1]}, nil
}

// Frame returns ["", Tag, Family, ID].
func (q DBQuery) Frame() []any { return []any{NodePort, q.Tag, q.Family, q.ID} }

// Reply returns the g_reply frame that answers q with result.
func (q DBQuery) Reply(result any) []any { return []any{NodePort, ReqGReply, q.ID, result} }

// DBReply is g_reply: the answer to the query with ID.
type DBReply struct {
	ID     any
	Result any
}

// ParseDBReply parses g_reply. It returns a *RequestError for another tag or
// fewer than two arguments.
func ParseDBReply(r Request) (DBReply, error) {
	if err := r.arity(2, ReqGReply); err != nil {
		return DBReply{}, err
	}
	return DBReply{ID: r.Args[0], Result: r.Args[1]}, nil
}

// FamilyMonitor is g_mon1 (Start) or g_mon0 about Family, or g_chg1 (the
// snapshot that answers g_mon1: All, nil when the family does not exist).
type FamilyMonitor struct {
	Tag    string // ReqGMon1, ReqGMon0 or ReqGChg1
	Family string
	All    map[string]any
}

// ParseFamilyMonitor parses g_mon1, g_mon0 or g_chg1. It returns a
// *RequestError for another tag or arguments of the wrong types.
func ParseFamilyMonitor(r Request) (FamilyMonitor, error) {
	if err := r.arity(1, ReqGMon1, ReqGMon0, ReqGChg1); err != nil {
		return FamilyMonitor{}, err
	}
	m := FamilyMonitor{Tag: r.Tag}
	var err error
	if m.Family, err = r.str(0, "family"); err != nil {
		return FamilyMonitor{}, err
	}
	if r.Tag == ReqGChg1 && len(r.Args) > 1 && r.Args[1] != nil {
		all, ok := r.Args[1].(map[string]any)
		if !ok {
			return FamilyMonitor{}, badRequest(r.Tag, "snapshot is a %s, not a map or null", modelTypeName(r.Args[1]))
		}
		m.All = all
	}
	return m, nil
}

// Frame returns ["", Tag, Family] or, for g_chg1, ["", "g_chg1", Family,
// All|null].
func (m FamilyMonitor) Frame() []any {
	if m.Tag != ReqGChg1 {
		return []any{NodePort, m.Tag, m.Family}
	}
	var all any
	if m.All != nil {
		all = m.All
	}
	return []any{NodePort, ReqGChg1, m.Family, all}
}

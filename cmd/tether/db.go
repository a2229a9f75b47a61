package main

import (
	"errors"
	"flag"
	"fmt"
	"sync"

	"github.com/tetherkit/tether/node"
)

var dbCommand = &command{
	name: "db",
	help: `usage: tether db [flags] family|keys|values FAMILY
       tether db [flags] set FAMILY KEY [VALUE]
       tether db [flags] mon FAMILY

Reads and watches the registry, the network's map of family → key → value:

  family FAMILY          print the family as a JSON object
  keys FAMILY            print its keys as a JSON array, sorted
  values FAMILY          print its values as a JSON array
  set FAMILY KEY [VALUE] set an entry (VALUE: null if absent; JSON as for
                         tether snd), and keep it until Ctrl-C
  mon FAMILY             print the family, then every change, one JSON
                         object a line: {"added":{…},"changed":{…},
                         "deleted":[…]}; the first has every entry in added

An entry belongs to the node that set it and goes when that node deletes
it or dies: so db set holds its entry while it runs, and there is no db
del — stop the db set, or the node, that holds the entry. The families 'l
(each node's listen addresses) and 'g (the global nodes) are the
registry's own: they can be read, not set.
` + shellNote,
	run: runDB,
}

func runDB(e *env, fs *flag.FlagSet, argv []any) error {
	var sf shellFlags
	sf.add(fs, "how long to wait for the network and the registry")
	argv, err := parse(fs, argv)
	if err != nil {
		return err
	}
	if len(argv) < 2 {
		return usageErr(errors.New("want family, keys, values, set or mon, and a FAMILY"))
	}
	verb, err := strArg(argv[0], "the verb")
	if err != nil {
		return err
	}
	family, err := strArg(argv[1], "the family")
	if err != nil {
		return err
	}
	rest := argv[2:]
	switch verb {
	case "family", "keys", "values", "mon":
		if len(rest) != 0 {
			return usageErr(fmt.Errorf("db %s takes a FAMILY only", verb))
		}
	case "set":
		if len(rest) < 1 || len(rest) > 2 {
			return usageErr(errors.New("db set takes FAMILY KEY [VALUE]"))
		}
	case "del":
		return usageErr(errors.New("an entry belongs to the node that set it, so a new node cannot delete it: stop the tether db set (or the node) that holds it"))
	default:
		return usageErr(fmt.Errorf("unknown verb %q: want family, keys, values, set or mon", verb))
	}
	var key string
	var value any
	if verb == "set" {
		if key, err = strArg(rest[0], "the key"); err != nil {
			return err
		}
		if len(rest) == 2 {
			if value, err = msgArg(rest[1]); err != nil {
				return err
			}
		}
	}

	s, err := e.join(&sf)
	if err != nil {
		return err
	}
	defer s.close()
	ctx, cancel := s.deadline(e.ctx, sf.timeout)
	defer cancel()
	var out any
	switch verb {
	case "family":
		out, err = s.n.DBFamily(ctx, family)
	case "keys":
		out, err = s.n.DBKeys(ctx, family)
	case "values":
		out, err = s.n.DBValues(ctx, family)
	case "set":
		if _, err := s.n.DBSet(family, key, value); err != nil {
			return usageErr(err)
		}
		fmt.Fprintf(e.stderr, "tether db set: %s/%s set by %s; it lasts until Ctrl-C\n", family, key, s.n.ID())
		<-e.ctx.Done()
		return nil
	case "mon":
		return dbMon(e, s, family)
	}
	switch {
	case errors.Is(err, node.ErrFamily):
		return usageErr(err)
	case e.ctx.Err() != nil:
		return nil
	case err != nil:
		return remoteErr("reading the registry: %v", err)
	}
	if l, ok := out.([]string); ok && l == nil {
		out = []string{}
	}
	if l, ok := out.([]any); ok && l == nil {
		out = []any{}
	}
	fmt.Fprintln(e.stdout, jsonText(out))
	return nil
}

// dbChange is a line of tether db mon.
type dbChange struct {
	Added   map[string]any `json:"added"`
	Changed map[string]any `json:"changed"`
	Deleted []string       `json:"deleted"`
}

func dbMon(e *env, s *shell, family string) error {
	var mu sync.Mutex
	g, err := s.n.DBMon(family, func(c node.DBChange) {
		line := dbChange{Added: map[string]any{}, Changed: map[string]any{}, Deleted: c.Deleted}
		for _, k := range c.Added {
			line.Added[k] = c.Entries[k]
		}
		for _, k := range c.Changed {
			line.Changed[k] = c.Entries[k]
		}
		if line.Deleted == nil {
			line.Deleted = []string{}
		}
		text := jsonText(dbChange{Added: toJSON(line.Added).(map[string]any), Changed: toJSON(line.Changed).(map[string]any), Deleted: line.Deleted})
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(e.stdout, text)
	})
	if err != nil {
		return usageErr(err)
	}
	defer g.Stop()
	<-e.ctx.Done()
	return nil
}

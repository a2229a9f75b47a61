package main

import (
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/tetherkit/tether/cmd/tether/internal/profile"
)

// loadConfig reads the config file. Its errors are configuration errors.
func loadConfig() (*profile.Config, error) {
	path, err := profile.Path()
	if err != nil {
		return nil, usageErr(err)
	}
	c, err := profile.Load(path)
	if err != nil {
		return nil, usageErr(err)
	}
	return c, nil
}

// keyHelp lists the keys a profile may hold.
func keyHelp() string {
	var b strings.Builder
	for _, k := range profile.Keys {
		wrapped := wrap(k.Doc, 78-20)
		fmt.Fprintf(&b, "  %-17s %s\n", k.Name, wrapped[0])
		for _, l := range wrapped[1:] {
			fmt.Fprintf(&b, "  %-17s %s\n", "", l)
		}
	}
	return b.String()
}

// wrap breaks text into lines of at most width columns, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len([]rune(line))+1+len([]rune(w)) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}

var profileCommand = &command{
	name: "profile",
	help: `usage: tether profile NAME set KEY VALUE [KEY VALUE…]
       tether profile NAME add KEY VALUE…
       tether profile NAME del KEY [VALUE…]
       tether profile NAME gensecret
       tether profile NAME gencert

Changes profile NAME in the config file, making it if it is new. set sets
keys; add adds values to a list key, del deletes values from one, or
without values deletes the key, so that the profile inherits it again.
A profile inherits what it does not set from its parent, and the last in
the chain from the global section (tether set … changes that one).

A list is "a,b" or a JSON array; a duration "10s" or "500ms"; a bool
true or false. The file changes only if every change is good.

keys:
` + keyHelp() + `
Example:
  tether profile seed set nodeid seed binds '*:4040' seeds 10.0.0.1:4040
  tether profile worker set parent seed nodeid worker/ binds '*:0'
`,
	run: func(e *env, fs *flag.FlagSet, argv []any) error {
		argv, err := parse(fs, argv)
		if err != nil {
			return err
		}
		if len(argv) < 2 {
			return usageErr(fmt.Errorf("want a profile NAME and set, add, del, gensecret or gencert"))
		}
		name, err := strArg(argv[0], "the profile name")
		if err != nil {
			return err
		}
		verb, err := strArg(argv[1], "the verb")
		if err != nil {
			return err
		}
		return edit(e, name, verb, argv[2:])
	},
}

// configCommand is set, add or del for the global section.
func configCommand(verb string) *command {
	what := map[string]string{
		"set": `usage: tether set KEY VALUE [KEY VALUE…]

Sets keys of the global section, which every profile inherits. See
tether help profile for the keys and their values.
`,
		"add": `usage: tether add KEY VALUE…

Adds values to a list key of the global section (see tether help profile).
`,
		"del": `usage: tether del KEY [VALUE…]

Deletes a key of the global section, or values from a list key (see
tether help profile).
`,
	}[verb]
	return &command{name: verb, help: what, run: func(e *env, fs *flag.FlagSet, argv []any) error {
		argv, err := parse(fs, argv)
		if err != nil {
			return err
		}
		return edit(e, "", verb, argv)
	}}
}

// genCommand is gensecret or gencert for the global section.
func genCommand(verb string) *command {
	what := map[string]string{
		"gensecret": `usage: tether gensecret

Sets the global section's secret to a new random one (64 characters, 384
bits from the system's random source). Nodes with the same secret
authenticate each other; copy it to other machines with tether showconfig
and tether set secret. tether profile NAME gensecret sets a profile's.
`,
		"gencert": `usage: tether gencert

Sets the global section's cert to a new private key and a self-signed
certificate (P-256, valid from 2000 to 2999), inline PEM. Nodes that share
it link over TLS and authenticate by it; it needs no secret. As with
AnyEvent::MP, every node of a network has the same one: the PEM works with
aemp setcert too. tether profile NAME gencert sets a profile's.
`,
	}[verb]
	return &command{name: verb, help: what, run: func(e *env, fs *flag.FlagSet, argv []any) error {
		argv, err := parse(fs, argv)
		if err != nil {
			return err
		}
		return edit(e, "", verb, argv)
	}}
}

// edit applies one verb to section name ("" global) and saves the file.
func edit(e *env, name, verb string, argv []any) error {
	c, err := loadConfig()
	if err != nil {
		return err
	}
	where := "the global section"
	if name != "" {
		where = "profile " + name
	}
	args := make([]any, len(argv))
	for i, a := range argv {
		if args[i], err = cfgArg(a); err != nil {
			return err
		}
	}
	said := ""
	keyAt := func(i int) (string, error) { return strArg(argv[i], "a key") }
	switch verb {
	case "set":
		if len(args) == 0 || len(args)%2 != 0 {
			return usageErr(fmt.Errorf("want KEY VALUE pairs"))
		}
		for i := 0; i < len(args); i += 2 {
			k, err := keyAt(i)
			if err != nil {
				return err
			}
			if err := c.Set(name, k, args[i+1]); err != nil {
				return usageErr(err)
			}
		}
	case "add", "del":
		if len(args) == 0 || verb == "add" && len(args) < 2 {
			return usageErr(fmt.Errorf("want a KEY and values"))
		}
		k, err := keyAt(0)
		if err != nil {
			return err
		}
		do := c.Add
		if verb == "del" {
			do = c.Del
		}
		if err := do(name, k, args[1:]...); err != nil {
			return usageErr(err)
		}
	case "gensecret", "gencert":
		if len(args) != 0 {
			return usageErr(fmt.Errorf("%s takes no arguments", verb))
		}
		k, v := "secret", ""
		if verb == "gensecret" {
			b := make([]byte, 48)
			rand.Read(b) // never fails (crypto/rand)
			v = base64.RawURLEncoding.EncodeToString(b)
		} else {
			k = "cert"
			if v, err = profile.GenerateCert(); err != nil {
				return err
			}
		}
		if err := c.Set(name, k, v); err != nil {
			return err
		}
		said = fmt.Sprintf("new %s set in %s of %s\n", k, where, c.Path)
	default:
		return usageErr(fmt.Errorf("unknown verb %q: want set, add, del, gensecret or gencert", verb))
	}
	if err := c.Save(); err != nil {
		return err
	}
	fmt.Fprint(e.stdout, said)
	return nil
}

var showprofileCommand = &command{
	name: "showprofile",
	help: `usage: tether showprofile [NAME]

Shows profile NAME resolved as tether run NAME resolves it (without NAME,
the global section): each value it has, and where it came from — the
profile, one of its parents, the global section, or the default. Secrets
are not shown, only their length.
`,
	run: func(e *env, fs *flag.FlagSet, argv []any) error {
		argv, err := parse(fs, argv)
		if err != nil {
			return err
		}
		if len(argv) > 1 {
			return usageErr(fmt.Errorf("want one profile NAME at most"))
		}
		name := ""
		if len(argv) == 1 {
			if name, err = strArg(argv[0], "the profile name"); err != nil {
				return err
			}
		}
		c, err := loadConfig()
		if err != nil {
			return err
		}
		r, err := c.Resolve(name, nil, false)
		if err != nil {
			return usageErr(err)
		}
		title := "the global section"
		if name != "" {
			title = "profile " + name
		}
		fmt.Fprintf(e.stdout, "%s, in %s:\n", title, c.Path)
		for _, k := range profile.Keys {
			v, ok := r.Values[k.Name]
			if !ok {
				continue
			}
			fmt.Fprintf(e.stdout, "  %-17s %-30s %s\n", k.Name, showValue(k.Name, v), r.From[k.Name])
		}
		return nil
	},
}

// showValue renders a profile value for people, keeping secrets back.
func showValue(k string, v any) string {
	switch x := v.(type) {
	case time.Duration:
		if x == profile.Off {
			return "off"
		}
		return x.String()
	case string:
		switch {
		case k == "secret":
			return fmt.Sprintf("(%d characters)", len(x))
		case k == "cert" && strings.Contains(x, "-----BEGIN "):
			return fmt.Sprintf("(inline PEM, %d blocks)", strings.Count(x, "-----BEGIN "))
		}
	}
	return jsonText(v)
}

var showconfigCommand = &command{
	name: "showconfig",
	help: `usage: tether showconfig

Prints the config file as tether reads it (secrets included), and says
where it is.
`,
	run: func(e *env, fs *flag.FlagSet, argv []any) error {
		argv, err := parse(fs, argv)
		if err != nil {
			return err
		}
		if len(argv) > 0 {
			return usageErr(fmt.Errorf("takes no arguments"))
		}
		c, err := loadConfig()
		if err != nil {
			return err
		}
		data, err := c.Marshal()
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "%s:\n", c.Path)
		_, err = e.stdout.Write(data)
		return err
	},
}

var delprofileCommand = &command{
	name: "delprofile",
	help: `usage: tether delprofile NAME

Deletes profile NAME from the config file, unless another profile has it
as its parent.
`,
	run: func(e *env, fs *flag.FlagSet, argv []any) error {
		argv, err := parse(fs, argv)
		if err != nil {
			return err
		}
		if len(argv) != 1 {
			return usageErr(fmt.Errorf("want one profile NAME"))
		}
		name, err := strArg(argv[0], "the profile name")
		if err != nil {
			return err
		}
		c, err := loadConfig()
		if err != nil {
			return err
		}
		if err := c.DelProfile(name); err != nil {
			return usageErr(err)
		}
		return c.Save()
	},
}

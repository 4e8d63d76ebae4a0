package botauth

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/authz"
)

// bootstrapUsage is printed for -h and bad arguments.
const bootstrapUsage = `usage: bootstrap --email <email> --password <password | -> [--name <display name>]

Creates a user who owns the default organisation (the first admin, or
another one). "--password -" reads the password from the first line of
standard input (keeps it out of the process list and shell history).
An email that already exists is refused: bootstrap never changes an account.`

// bootstrapCommand is "botauth bootstrap ..." (and "botserver bootstrap ...").
func bootstrapCommand(set *Settings, stdin io.Reader, stdout io.Writer) app.Command {
	return func(ctx context.Context, env *app.Env, args []string) error {
		fs := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		email := fs.String("email", "", "")
		password := fs.String("password", "", "")
		name := fs.String("name", "Administrator", "")
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(stdout, bootstrapUsage)
				return nil
			}
			return fmt.Errorf("%v\n%s", err, bootstrapUsage)
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected arguments %q (quote a password with spaces)\n%s", fs.Args(), bootstrapUsage)
		}
		if *email == "" || *password == "" {
			return fmt.Errorf("--email and --password are required\n%s", bootstrapUsage)
		}
		if *password == "-" {
			line, err := bufio.NewReader(io.LimitReader(stdin, maxPasswordBytes+2)).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("reading the password from stdin: %w", err)
			}
			*password = strings.TrimRight(line, "\r\n")
		}
		addr, err := normEmail(*email)
		if err != nil {
			return fmt.Errorf("--email: %w", err)
		}
		if err := checkPassword(*password, addr, set.PasswordMin); err != nil {
			return fmt.Errorf("--password: %w", err)
		}
		display, err := checkName("--name", *name, 200)
		if err != nil {
			return err
		}
		srv := newServer(env, set)
		if err := srv.ensureDefaultOrg(ctx); err != nil {
			return err
		}
		if _, err := srv.createAdmin(ctx, addr, *password, display, false); err != nil {
			if errors.Is(err, errUserExists) {
				return fmt.Errorf("%s already exists: nothing changed (bootstrap never modifies an account; log in with its password, or ask an owner to change its roles)", addr)
			}
			return fmt.Errorf("bootstrap: %w", err)
		}
		fmt.Fprintf(stdout, "created %s, owner of the default organisation (%s); log in at POST /api/v1/auth/login\n", addr, authz.DefaultOrgID)
		return nil
	}
}

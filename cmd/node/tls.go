package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/korumdb/korum/tlsgen"
)

// tlsCmd is `korum tls init`: a test CA and certificates for the nodes.
func tlsCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "init" {
		fmt.Fprintln(stderr, "Usage: korum tls init --dir DIR --nodes n1,n2,n3 [--servers lb] [--hosts h1,h2] [--validity 8760h]")
		return exitConfig
	}
	fs := flag.NewFlagSet("korum tls init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory for ca.pem, ca-key.pem and NAME.pem, NAME-key.pem (an existing CA there is reused)")
	nodes := fs.String("nodes", "", "comma-separated node names: certificates for the API and the cluster port (server and client authentication)")
	servers := fs.String("servers", "", "comma-separated names of server-only certificates (HTTPS of a load balancer; refused on the cluster port)")
	hosts := fs.String("hosts", "", "comma-separated host names and IP addresses added to every certificate (each name is one already; localhost, 127.0.0.1 and ::1 are always added)")
	validity := fs.Duration("validity", tlsgen.DefaultCertValidity, "lifetime of the certificates (the CA's is 10 years)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: korum tls init --dir DIR --nodes n1,n2,n3 [--servers lb] [--hosts h1,h2] [--validity 8760h]")
		fmt.Fprintln(fs.Output(), "Makes a cluster CA (once) and a certificate per name, ECDSA P-256. Running it again renews the certificates.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "korum tls init: unexpected arguments %v\n", fs.Args())
		return exitConfig
	}
	files, err := tlsgen.Init(tlsgen.InitOptions{Dir: *dir, Nodes: splitList(*nodes), Servers: splitList(*servers),
		Hosts: append(splitList(*hosts), "localhost", "127.0.0.1", "::1"), Validity: *validity})
	for _, f := range files {
		fmt.Fprintln(stdout, "wrote", f)
	}
	if err != nil {
		fmt.Fprintln(stderr, "korum tls init:", err)
		if len(files) == 0 {
			return exitConfig
		}
		return exitFatal
	}
	return exitOK
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// checkReport is what check finds; --json prints it as is.
type checkReport struct {
	OK       bool        `json:"ok"`
	Steps    []checkStep `json:"steps"`
	Roles    []string    `json:"roles,omitempty"`
	Needed   []string    `json:"needed,omitempty"`
	Missing  []string    `json:"missing,omitempty"`
	Excess   []string    `json:"excess,omitempty"`
	Warnings []string    `json:"warnings,omitempty"`

	// DelegatedNeeded and DelegatedMissing are the Graph delegated
	// permissions the policy's rules name, and those of them not
	// consented for the proxy's app registration (delegated access).
	DelegatedNeeded  []string `json:"delegatedNeeded,omitempty"`
	DelegatedMissing []string `json:"delegatedMissing,omitempty"`
}

type checkStep struct {
	Name  string  `json:"name"`
	OK    bool    `json:"ok"`
	Ms    float64 `json:"ms"`
	Error string  `json:"error,omitempty"`
	Fix   string  `json:"fix,omitempty"`
}

// check verifies a deployment end to end without serving: configuration,
// policy, each hop of acquiring the Graph token, and the token's roles
// against what the policy needs. Exit 0 only when all is well.
func check(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := newFlags("check", stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	graphRead := fs.String("graph-read", "", "also GET this Graph path with the token, e.g. /v1.0/users?$top=1")
	cfg, err := loadConfig(fs, args, env)
	if err != nil {
		return err
	}
	rep := &checkReport{OK: true}
	add := func(name string, d time.Duration, err error, fix string) {
		s := checkStep{Name: name, OK: err == nil, Ms: float64(d.Microseconds()) / 1000}
		if err != nil {
			s.Error, s.Fix, rep.OK = err.Error(), fix, false
		}
		rep.Steps = append(rep.Steps, s)
	}
	add("configuration", 0, nil, "")

	roots, err := rootCAs(cfg.Graph.CAFile)
	if err != nil {
		return err
	}
	graphURL, loginURL, resource := cfg.Graph.Endpoints()
	client := &http.Client{Transport: proxy.NewTransport(proxy.TransportOptions{RootCAs: roots, ResponseHeaderTimeout: 30 * time.Second}), Timeout: time.Minute}

	// The policy from where serve reads it: the file or the Key Vault
	// secret (with the managed identity).
	start := time.Now()
	var pol *policy.Policy
	src, err := policySource(cfg, loginURL, client)
	if err == nil {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		var rev policy.Revision
		if rev, err = src.Read(pctx); err == nil {
			pol, err = policy.Parse(rev.Name, rev.Data)
		}
		cancel()
	}
	fix := "fix the policy: graph-proxy policy lint FILE, then apply it again"
	if err != nil && src.fix != nil && pol == nil && !isLoadError(err) {
		fix = src.fix(err)
	}
	add("policy "+src.name, time.Since(start), err, fix)
	uo := upstreamOptions(cfg, loginURL, client)
	tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	steps, tok := upstream.Diagnose(tctx, uo, resource+"/.default")
	for _, s := range steps {
		add(s.Name, s.Duration, s.Err, s.Fix)
	}

	if tok.Token != "" {
		rep.Roles, err = upstream.Roles(tok.Token)
		if err != nil {
			add("token roles", 0, err, "")
		}
		if pol != nil {
			rep.Needed = pol.Permissions()
			rep.Warnings = append(rep.Warnings, aliasWarnings(pol)...)
			for _, p := range rep.Needed {
				if !slices.Contains(rep.Roles, p) {
					rep.Missing = append(rep.Missing, p)
				}
			}
			for _, r := range rep.Roles {
				// The mediation check reads the tenant with it.
				if r == mediationRole && cfg.Mediation.Interval != 0 {
					continue
				}
				if !slices.Contains(rep.Needed, r) {
					rep.Excess = append(rep.Excess, r)
				}
			}
			if len(rep.Missing) > 0 {
				rep.OK = false
			}
			if len(rep.Excess) > 0 {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("over-privileged: the identity holds %v, which the policy never uses; remove them (scripts/Grant-GraphPermissions.ps1 grants exactly what the policy needs)", rep.Excess))
			}
		}
		if *graphRead != "" {
			start := time.Now()
			status, err := graphGet(tctx, client, graphURL.String()+*graphRead, tok.Token)
			if err == nil && status != http.StatusOK {
				err = fmt.Errorf("status %d from Graph", status)
			}
			add("Graph read "+*graphRead, time.Since(start), err, "check that the identity holds the permission this read needs")
		}
	}

	if tok.Token != "" && pol != nil {
		checkMediation(tctx, rep, add, graphURL, client, tok.Token, pol)
		checkDelegated(tctx, rep, add, graphURL, client, tok.Token, cfg, pol)
	}

	// The audit checkpoint key: a signature made, as serve makes them.
	if cp := cfg.Audit.Checkpoint; cp.KeyID != "" {
		start := time.Now()
		o, err := checkpointOptions(cfg, loginURL, client)
		if err == nil {
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, _, _, err = o.Signer.Sign(sctx, []byte("graph-proxy check"))
			cancel()
		}
		add("Key Vault: sign with the audit checkpoint key "+cp.KeyID, time.Since(start), err,
			"grant the proxy's identity Key Vault Crypto User on the key (the templates do; docs/installation.md, \"The audit checkpoint key\"), or create the key")
	}

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		printCheck(stdout, rep)
	}
	if !rep.OK {
		return &exitError{code: exitFailure, err: fmt.Errorf("check failed")}
	}
	return nil
}

// aliasWarnings say, for each permission the policy names by an alias,
// that the identity needs the application permission it was read as: the
// name the policy writes is not the one the token carries.
func aliasWarnings(pol *policy.Policy) []string {
	aliased := pol.AliasedPermissions()
	var out []string
	for _, name := range slices.Sorted(maps.Keys(aliased)) {
		canon := aliased[name]
		out = append(out, fmt.Sprintf("the policy names %s, which Microsoft Graph has as a delegated permission only; it is read as the application permission %s, which the identity needs: write %s in the policy (graph-proxy policy lint FILE shows where)", name, canon, canon))
	}
	return out
}

func printCheck(w io.Writer, rep *checkReport) {
	for _, s := range rep.Steps {
		mark := "ok  "
		if !s.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "%s %-60s %8.1f ms\n", mark, s.Name, s.Ms)
		if !s.OK {
			fmt.Fprintf(w, "     error: %s\n     fix:   %s\n", s.Error, s.Fix)
		}
	}
	if rep.Roles != nil || rep.Needed != nil {
		fmt.Fprintf(w, "Graph permissions of the proxy's token: %v\n", rep.Roles)
		fmt.Fprintf(w, "Graph permissions the policy needs:     %v\n", rep.Needed)
	}
	if len(rep.Missing) > 0 {
		fmt.Fprintf(w, "FAIL missing permissions: %v — grant them to the identity (scripts/Grant-GraphPermissions.ps1), or calls that need them will fail at Graph\n", rep.Missing)
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintf(w, "WARN %s\n", warn)
	}
	if rep.OK {
		fmt.Fprintln(w, "all is well")
	}
}

func graphGet(ctx context.Context, c *http.Client, url, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func isLoadError(err error) bool {
	var le *policy.LoadError
	return errors.As(err, &le)
}

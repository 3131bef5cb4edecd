package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/tokenshape"
)

// sim runs the local simulator of Entra ID, the managed-identity endpoint,
// Key Vault and Graph until ctx ends. With --state-dir it writes there the
// CA (ca.pem) and sim.env, the environment that points graph-proxy at it.
func sim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "token" {
		return simToken(ctx, args[1:], stdout, stderr)
	}
	fs := newFlags("sim", stderr)
	stateDir := fs.String("state-dir", "", "write ca.pem and sim.env here")
	host := fs.String("host", "127.0.0.1", "address to listen on")
	basePort := fs.Int("base-port", 0, "Entra on this port, Graph on +1, Key Vault on +2, identity endpoint on +3 (0: any free ports)")
	users := fs.Int("users", 30, "number of mailbox users")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o := graphsim.Options{Host: *host, Users: *users,
		Logger: slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: tokenshape.ReplaceAttr}))}
	if *basePort > 0 {
		o.EntraPort, o.GraphPort, o.VaultPort, o.IdentityPort = *basePort, *basePort+1, *basePort+2, *basePort+3
	}
	s, err := graphsim.Start(o)
	if err != nil {
		return err
	}
	defer s.Close()
	// The proxy app's credential lives in Key Vault for the keyVaultSecret
	// mode, as an operator would put it there.
	s.Vault.SetSecret("graph-proxy-credential", s.Entra.App(graphsim.CustomerTenant, graphsim.ProxyAppID).Secret, "")
	// The audit checkpoint key, as the templates create it.
	s.Vault.CreateKey(checkpointKey)
	// The key of relayed notifications' URLs, generated for this run.
	s.Vault.SetSecret(notificationKeySecret, rand.Text()+rand.Text(), "")
	// And of file links.
	s.Vault.SetSecret(fileLinkKeySecret, rand.Text()+rand.Text(), "")

	if *stateDir != "" {
		if err := os.MkdirAll(*stateDir, 0o700); err != nil {
			return err
		}
		ca := filepath.Join(*stateDir, "ca.pem")
		if err := os.WriteFile(ca, s.CAPEM(), 0o600); err != nil {
			return err
		}
		// Its public half, as az keyvault key download writes it, for
		// audit verify --key.
		if err := os.WriteFile(filepath.Join(*stateDir, checkpointKey+".pem"), s.Vault.PublicKeyPEM(checkpointKey), 0o600); err != nil {
			return err
		}
		env := append(s.Env(ca),
			"GRAPH_PROXY_AUDIT_CHECKPOINT_KEYID="+s.Vault.URL+"/keys/"+checkpointKey,
			"GRAPH_PROXY_AUDIT_CHECKPOINT_DISABLECHALLENGERESOURCEVERIFICATION=true",
			"GRAPH_PROXY_NOTIFICATIONS_SECRETURI="+s.Vault.URL+"/secrets/"+notificationKeySecret,
			"GRAPH_PROXY_NOTIFICATIONS_DISABLECHALLENGERESOURCEVERIFICATION=true",
			"GRAPH_PROXY_FILES_SECRETURI="+s.Vault.URL+"/secrets/"+fileLinkKeySecret,
			"GRAPH_PROXY_FILES_DISABLECHALLENGERESOURCEVERIFICATION=true",
			// The simulated SharePoint and Outlook: the file hosts of this run.
			"GRAPH_PROXY_FILES_EXTRAHOSTS="+hostOf(s.SharePoint.URL)+","+hostOf(s.Outlook.URL))
		// Written last and renamed into place: its presence means ready.
		tmp := filepath.Join(*stateDir, "sim.env.tmp")
		if err := os.WriteFile(tmp, []byte(strings.Join(env, "\n")+"\n"), 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(*stateDir, "sim.env")); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "graphsim: Entra %s  Graph %s  Key Vault %s  identity %s  Logs Ingestion %s\n",
		s.Entra.URL, s.Graph.URL, s.Vault.URL, s.Identity.Endpoint(), s.Monitor.URL)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Shutdown(sctx)
}

// checkpointKey is the simulated vault's key that signs the audit
// checkpoints.
const checkpointKey = "audit-checkpoint"

// simToken prints an access token for the proxy's audience, obtained by the
// simulated vendor app with client credentials from the running simulator.
func simToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sim token", stderr)
	stateDir := fs.String("state-dir", ".run", "the simulator's --state-dir")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(*stateDir, "sim.env"))
	if err != nil {
		return fmt.Errorf("is the simulator running? %w", err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	pem, err := os.ReadFile(env["SIM_CA_FILE"])
	if err != nil {
		return err
	}
	roots, err := rootCAsFromPEM(pem)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig(roots)}}
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {env["SIM_VENDOR_CLIENT_ID"]},
		"client_secret": {env["SIM_VENDOR_CLIENT_SECRET"]},
		"scope":         {env["SIM_PROXY_AUDIENCE"] + "/.default"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, env["SIM_ENTRA_URL"]+"/"+env["SIM_VENDOR_TENANT"]+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	if out.AccessToken == "" {
		return fmt.Errorf("token endpoint: %s", out.Error)
	}
	fmt.Fprintln(stdout, out.AccessToken)
	return nil
}

// notificationKeySecret is the simulated vault's secret that seals the
// relay's notification URLs.
const notificationKeySecret = "graph-proxy-notification-key"

// fileLinkKeySecret is the simulated vault's secret that seals the file
// links of make run.
const fileLinkKeySecret = "graph-proxy-file-link-key"

// hostOf is rawURL's host[:port].
func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Host
}

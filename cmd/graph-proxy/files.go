package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/graph-proxy/graph-proxy/internal/config"
	"github.com/graph-proxy/graph-proxy/internal/secretkey"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/filelink"
)

// newFileLinkKey reads the secret that seals the proxy's file links
// (files.secretURI), its earlier versions still opening links made under
// them.
func newFileLinkKey(cfg config.Config, loginURL *url.URL, client *http.Client, log *slog.Logger) (*secretkey.Vault, error) {
	return newSecretKey(cfg, "files", "file link key", cfg.Files.KeyVaultSecret, keyVersionsKept, loginURL, client, log)
}

// startFiles is what the proxy moves file content with: the cloud's file
// hosts (and files.extraHosts), and, with files.secretURI, the sealer of
// its file links. A key configured and unreadable stops the start;
// without one, downloads and simple uploads work and no link is handed
// out.
func startFiles(ctx context.Context, cfg config.Config, roots *x509.CertPool, key *secretkey.Vault, log *slog.Logger) (*proxy.Files, []func(context.Context), error) {
	files := &proxy.Files{Hosts: filelink.CloudHosts(cfg.Graph.Cloud).With(cfg.Files.ExtraHosts...),
		Transport: proxy.NewTransport(proxy.TransportOptions{RootCAs: roots, ResponseHeaderTimeout: cfg.Graph.Timeout, ReceiveWindow: proxy.FileReceiveWindow})}
	if len(cfg.Files.ExtraHosts) > 0 {
		log.Warn("file content may go to hosts beyond the cloud's own (files.extraHosts)", "hosts", cfg.Files.ExtraHosts)
	}
	if key == nil {
		return files, nil, nil
	}
	if err := key.Load(ctx); err != nil {
		return nil, nil, &exitError{code: exitFailure, err: fmt.Errorf("%w\nfix: store a key of at least %d bytes in %s (az keyvault secret set --value \"$(openssl rand -base64 48)\") and give the managed identity Key Vault Secrets User on it",
			err, filelink.MinKeyBytes, key)}
	}
	sealer, err := filelink.NewSealer(key)
	if err != nil {
		return nil, nil, err
	}
	files.Links = sealer
	return files, []func(context.Context){key.Run}, nil
}

package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Starting the configurations under test: the load's own servers, nginx
// and graph-proxy, each on its core, and waiting until they answer.

// startServer starts one of this program's servers pinned to cpu and reads
// the address it prints.
func (h *harness) startServer(cpu, sub string, args ...string) (*exec.Cmd, string, error) {
	cmd := exec.Command("taskset", append([]string{"-c", cpu, h.self, sub, "-listen", "127.0.0.1:0"}, args...)...)
	if h.o.instructions && sub != "backend" {
		cmd = h.valgrindCommand(cpu, sub, h.self, append([]string{sub, "-listen", "127.0.0.1:0"}, args...)...)
		cmd.Env = append(os.Environ(), valgrindEnv)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return cmd, "", fmt.Errorf("%s did not start: %w", sub, err)
	}
	return cmd, strings.TrimSpace(line), nil
}

func (h *harness) startNginx(cert, key string) error {
	addr, err := freePort()
	if err != nil {
		return err
	}
	ndir := filepath.Join(h.dir, "nginx")
	os.MkdirAll(ndir, 0o755)
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 8192; }
http {
  access_log off;
  # graph-proxy's limit (limits.maxBodyBytes, 4 MiB), with room; nginx's
  # default, 1 MB, would refuse the phases with large bodies. They are
  # held in memory, as the Go proxies hold them: a temporary file would be
  # written by a worker that may not own the harness's directory.
  client_max_body_size 8m;
  client_body_buffer_size 8m;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream graph { server %[2]s; keepalive 4096; }
  server {
    listen %[3]s ssl http2;
    ssl_certificate %[4]s;
    ssl_certificate_key %[5]s;
    keepalive_requests 1000000;
    location / {
      proxy_pass https://graph;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_session_reuse on;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate %[6]s;
      proxy_ssl_name localhost;
    }
  }
}
`, ndir, h.addrs["direct"], addr, cert, key, h.ca)
	confFile := filepath.Join(ndir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return err
	}
	cmd := exec.Command("taskset", "-c", h.o.proxyCPU, "nginx", "-c", confFile, "-p", ndir, "-e", filepath.Join(ndir, "error.log"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	h.procs["nginx"], h.addrs["nginx"] = cmd, addr
	return h.waitHTTP("https://"+addr+"/", 0)
}

// startGraphProxy starts the graph-proxy binary bin as configuration name,
// with an audit directory of its own.
func (h *harness) startGraphProxy(name, bin string, simEnv []byte, cert, key, upstream string) error {
	addr, err := freePort()
	if err != nil {
		return err
	}
	admin, err := freePort()
	if err != nil {
		return err
	}
	// One CA file for the backend and the simulator.
	simCA, _ := os.ReadFile(filepath.Join(h.dir, "sim", "ca.pem"))
	mine, _ := os.ReadFile(h.ca)
	cas := filepath.Join(h.dir, "cas.pem")
	os.WriteFile(cas, append(mine, simCA...), 0o644)
	h.audit[name] = filepath.Join(h.dir, name, "audit", "audit.jsonl")
	if err := os.MkdirAll(filepath.Dir(h.audit[name]), 0o755); err != nil {
		return err
	}
	pol := filepath.Join(h.dir, name, "policy.yaml")
	if err := os.WriteFile(pol, []byte(benchPolicy(200)), 0o644); err != nil {
		return err
	}
	env := []string{
		"GRAPH_PROXY_LISTEN=" + addr,
		"GRAPH_PROXY_PUBLICBASEURL=https://" + addr,
		"GRAPH_PROXY_TLS_CERTFILE=" + cert,
		"GRAPH_PROXY_TLS_KEYFILE=" + key,
		"GRAPH_PROXY_ADMIN_LISTEN=" + admin,
		"GRAPH_PROXY_ADMIN_PPROF=" + strconv.FormatBool(h.o.profile != "" || h.o.upstreamDelay > 0),
		"GRAPH_PROXY_POLICY_FILE=" + pol,
		"GRAPH_PROXY_AUDIT_SINKS=file",
		// Its own directory, as a mounted volume would be (not beside the
		// watched policy file).
		"GRAPH_PROXY_AUDIT_FILE_PATH=" + h.audit[name],
		"GRAPH_PROXY_AUDIT_FILE_MAXSIZEMB=1000", // no rotation within a run: ownTimes reads one file
		"GRAPH_PROXY_AUDIT_FILE_MAXFILES=2",
	}
	for _, line := range strings.Split(string(simEnv), "\n") {
		if line != "" && !strings.HasPrefix(line, "SIM_") && !strings.HasPrefix(line, "GRAPH_PROXY_GRAPH_BASEURL=") && !strings.HasPrefix(line, "GRAPH_PROXY_GRAPH_CAFILE=") {
			env = append(env, line)
		}
	}
	env = append(env, "GRAPH_PROXY_GRAPH_BASEURL="+upstream, "GRAPH_PROXY_GRAPH_CAFILE="+cas,
		"GRAPH_PROXY_INBOUND_ENTRA_TENANTS="+envValue(simEnv, "SIM_VENDOR_TENANT"),
		"GRAPH_PROXY_INBOUND_ENTRA_AUDIENCE="+envValue(simEnv, "SIM_PROXY_AUDIENCE"))
	cmd := exec.Command("taskset", "-c", h.o.proxyCPU, bin, "serve")
	if h.o.instructions {
		cmd = h.valgrindCommand(h.o.proxyCPU, name, bin, "serve")
		env = append(env, valgrindEnv)
	}
	cmd.Env = env
	logFile, err := os.Create(filepath.Join(h.dir, name, "graph-proxy.log"))
	if err != nil {
		return err
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	h.procs[name], h.addrs[name] = cmd, addr
	if h.o.profile != "" {
		h.pprof[name] = admin
	}
	if h.o.upstreamDelay > 0 {
		h.debug[name] = admin
	}
	if err := h.waitHTTP("https://"+addr+"/readyz", 200); err != nil {
		log, _ := os.ReadFile(logFile.Name())
		return fmt.Errorf("%w; its log:\n%s", err, log[max(0, len(log)-3000):])
	}
	return nil
}

func envValue(env []byte, key string) string {
	for _, line := range strings.Split(string(env), "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v
		}
	}
	return ""
}

// waitHTTP polls url until it answers (with status, when not 0).
func (h *harness) waitHTTP(url string, status int) error {
	wait := 20 * time.Second
	if h.o.instructions {
		wait = 5 * time.Minute // a start under callgrind: tens of seconds
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		resp, err := h.client.Get(url)
		if err == nil {
			resp.Body.Close()
			if status == 0 || resp.StatusCode == status {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer", url)
}

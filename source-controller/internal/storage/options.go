package storage

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/driftless-dev/driftless/pkg/artifact"
	"github.com/driftless-dev/driftless/pkg/runtime/serve"
)

// Options are source-controller's storage flags, with Flux's names and defaults.
type Options struct {
	Path             string
	Addr             string
	AdvAddr          string
	RetentionTTL     time.Duration
	RetentionRecords int
	Limits           artifact.Limits
}

// DefaultOptions returns Flux's defaults.
func DefaultOptions() Options {
	return Options{Path: "/data", Addr: ":9090", RetentionTTL: time.Minute, RetentionRecords: 2}
}

// BindFlags registers the options on fs.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Path, "storage-path", o.Path, "The local storage path.")
	fs.StringVar(&o.Addr, "storage-addr", o.Addr, "The address the static file server binds to.")
	fs.StringVar(&o.AdvAddr, "storage-adv-addr", o.AdvAddr, "The advertised address of the static file server; derived from --storage-addr and the host name when empty.")
	fs.DurationVar(&o.RetentionTTL, "artifact-retention-ttl", o.RetentionTTL, "How long superseded artifacts are kept.")
	fs.IntVar(&o.RetentionRecords, "artifact-retention-records", o.RetentionRecords, "How many artifacts per object are kept regardless of age.")
	o.Limits.BindFlags(fs)
}

// AdvertisedAddr returns AdvAddr, or the host name with the port of Addr.
func (o *Options) AdvertisedAddr() (string, error) {
	if o.AdvAddr != "" {
		return o.AdvAddr, nil
	}
	host, port, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return "", fmt.Errorf("--storage-addr %q: %w", o.Addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		if host, err = os.Hostname(); err != nil {
			return "", err
		}
	}
	return net.JoinHostPort(host, port), nil
}

// Server serves the storage over HTTP until its context ends; it is a controller-runtime
// Runnable. A client cannot hold a connection forever: reading a request, writing a response
// (an artifact of the largest size the caps allow, to a slow reader) and idling between
// requests are each bounded.
type Server struct {
	Storage *Storage
	Addr    string
	// WriteTimeout and IdleTimeout default to DefaultWriteTimeout and DefaultIdleTimeout.
	WriteTimeout, IdleTimeout time.Duration
}

const (
	// DefaultWriteTimeout bounds the time from the end of a request's headers to the end of
	// its response: a GiB at 2 MiB/s.
	DefaultWriteTimeout = 10 * time.Minute
	// DefaultIdleTimeout bounds how long a kept-alive connection waits for its next request.
	DefaultIdleTimeout = 2 * time.Minute
	// readTimeout bounds reading a request, headers and (empty) body.
	readTimeout = 30 * time.Second
)

// Start implements manager.Runnable.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("artifact server: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves the storage on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Storage.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       readTimeout,
		WriteTimeout:      orDefault(s.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       orDefault(s.IdleTimeout, DefaultIdleTimeout),
	}
	return serve.Serve(ctx, ln, srv)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Package serve runs the controllers' HTTP servers (artifacts, events, webhooks) for as long
// as the manager runs them.
package serve

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// shutdownTimeout bounds how long requests in flight may finish once the server stops.
const shutdownTimeout = 10 * time.Second

// Listen serves srv on addr until ctx ends (see Serve).
func Listen(ctx context.Context, addr string, srv *http.Server) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return Serve(ctx, ln, srv)
}

// Serve serves srv on ln until ctx ends, then shuts it down, letting requests in flight finish
// for a while.
func Serve(ctx context.Context, ln net.Listener, srv *http.Server) error {
	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		return srv.Shutdown(shutdown)
	case err := <-errs:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// Webhook is a server for small requests from outside the process (events, webhooks): every
// phase of a connection is bounded, and so are the headers.
func Webhook(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    256 << 10,
	}
}

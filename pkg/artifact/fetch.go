package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/driftless-dev/driftless/pkg/runtime/redact"
)

// ErrNotFound means the artifact server has no such artifact (yet): the source has not
// stored it, or has collected it. It is not retried.
var ErrNotFound = errors.New("artifact not found")

// ErrDigestMismatch means the downloaded bytes do not have the recorded digest.
var ErrDigestMismatch = errors.New("artifact digest mismatch")

// DefaultMaxDownloadBytes is the default of Fetcher.MaxDownloadBytes: the download is streamed
// to a temporary file, so it bounds disk, not memory.
const DefaultMaxDownloadBytes = 512 << 20

// Fetcher downloads artifacts, verifies them and extracts them.
type Fetcher struct {
	// Client performs the requests; a client with a 30s timeout when nil.
	Client *http.Client
	// Retries after the first attempt, on connection errors and 5xx answers (default 9, as
	// Flux's --http-retry).
	Retries int
	// Backoff before the first retry, doubled each time up to 5s (default 250ms).
	Backoff time.Duration
	// MaxDownloadBytes caps the compressed download (default 512 MiB).
	MaxDownloadBytes int64
	// Limits cap the extraction.
	Limits Limits
}

func (f *Fetcher) withDefaults() Fetcher {
	o := *f
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Retries <= 0 {
		o.Retries = 9
	}
	if o.Backoff <= 0 {
		o.Backoff = 250 * time.Millisecond
	}
	if o.MaxDownloadBytes <= 0 {
		o.MaxDownloadBytes = DefaultMaxDownloadBytes
	}
	return o
}

// Fetch downloads url into a temporary file, checks that its digest ('sha256:<hex>') matches,
// and only then extracts it into dir. Nothing is extracted from unverified bytes.
func (f *Fetcher) Fetch(ctx context.Context, url, digest, dir string) error {
	tmp, err := os.CreateTemp("", "artifact-*.tar.gz")
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	if err := f.Download(ctx, url, digest, tmp); err != nil {
		return err
	}
	return ExtractTarGz(tmp, dir, f.withDefaults().Limits)
}

// Download writes the artifact at url to file (truncated first), retrying as Fetch does, and
// checks that its digest ('sha256:<hex>') matches; on success file is positioned at its start.
// What file holds after an error is not to be read.
func (f *Fetcher) Download(ctx context.Context, url, digest string, file *os.File) error {
	o := f.withDefaults()
	algo, want, ok := strings.Cut(digest, ":")
	if !ok || algo != "sha256" || len(want) != 64 {
		return fmt.Errorf("unsupported artifact digest %q: want sha256:<hex>", digest)
	}
	var err error
	delay := o.Backoff
	for attempt := 0; ; attempt++ {
		err = o.download(ctx, url, file, want)
		if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrDigestMismatch) ||
			errors.Is(err, ErrTooLarge) || attempt >= o.Retries || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
	if err != nil {
		return err
	}
	_, err = file.Seek(0, io.SeekStart)
	return err
}

// download writes the body to tmp (truncated first) and checks its sha256 against want.
func (o Fetcher) download(ctx context.Context, url string, tmp *os.File, want string) error {
	if err := tmp.Truncate(0); err != nil {
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return redact.Error(fmt.Errorf("requesting artifact: %w", err))
	}
	resp, err := o.Client.Do(req)
	if err != nil {
		return redact.Error(fmt.Errorf("downloading artifact: %w", err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w: %s", ErrNotFound, redact.URL(url))
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("downloading artifact %s: %s", redact.URL(url), resp.Status)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(resp.Body, o.MaxDownloadBytes+1))
	if err != nil {
		return redact.Error(fmt.Errorf("downloading artifact: %w", err))
	}
	if n > o.MaxDownloadBytes {
		return fmt.Errorf("%w: the download exceeds %d bytes", ErrTooLarge, o.MaxDownloadBytes)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%w: downloaded sha256:%s, expected sha256:%s", ErrDigestMismatch, got, want)
	}
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	helmv2 "github.com/driftless-dev/driftless/helm-controller/api/v2"
	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// result is one scenario's measurement.
type result struct {
	Scenario   string             `json:"scenario"`
	Controller string             `json:"controller"`
	WallSec    float64            `json:"wallSeconds"`
	CPUSec     float64            `json:"cpuSeconds"`
	PeakRSSMiB float64            `json:"peakRSSMiB"`
	Requests   float64            `json:"apiRequests"`
	Extra      map[string]float64 `json:"extra,omitempty"`
	Note       string             `json:"note"`
}

type scenario struct {
	name string
	note string
	run  func(ctx context.Context, h *harness) (result, error)
	// runAll, when set instead of run, measures several phases of one setup: each result
	// names its own scenario and note.
	runAll func(ctx context.Context, h *harness) ([]result, error)
	// quick scenarios make the quick set (-quick).
	quick bool
}

// debugf logs details of a run when -v is set; warnf always.
var debugf, warnf = func(string, ...any) {}, func(string, ...any) {}

func main() {
	verbose := flag.Bool("v", false, "log details of each run (API requests by method)")
	runs := flag.Int("runs", 3, "runs per scenario; the median of each figure is reported")
	only := flag.String("scenarios", "", "comma-separated scenario names; all when empty")
	binDir := flag.String("bin-dir", "bin", "directory holding the controller binaries")
	outDir := flag.String("out", "bench/results", "directory for results.json and results.md")
	flag.StringVar(&profileDir, "profile", "", "when set, save a CPU profile (first -profile-seconds of each run) and a heap profile (end of each run) of the controller here")
	flag.StringVar(&kustomizeArgs, "kustomize-args", "", "extra flags for kustomize-controller, space-separated")
	quick := flag.Bool("quick", false, "run the quick set: the quick scenarios, with -apps 100 unless given")
	flag.IntVar(&apps, "apps", apps, "number of apps (Kustomizations) in the kustomize scenarios")
	flag.IntVar(&objects, "objects", objects, "objects per app in the kustomize scenarios (at least 4)")
	flag.StringVar(&bigSizes, "big-sizes", bigSizes, "comma-separated sizes of the one-Kustomization scenarios (kustomize-big-N), in objects")
	flag.StringVar(&profilePhase, "profile-phase", "", "with -profile, profile this phase of the kustomize-big scenarios (first-apply, requested-no-change, change-1pct, prune) for -profile-seconds instead of the start of each run")
	flag.IntVar(&profileSeconds, "profile-seconds", 30, "length of the CPU profile")
	flag.IntVar(&releases, "helm-releases", releases, "number of HelmReleases in the helm-releases scenario")
	flag.StringVar(&helmArgs, "helm-args", "", "extra flags for helm-controller, space-separated")
	flag.Parse()
	if *quick {
		appsSet := false
		flag.Visit(func(f *flag.Flag) { appsSet = appsSet || f.Name == "apps" })
		if !appsSet {
			apps = 100
		}
	}
	objects = max(objects, 4)
	if *verbose {
		debugf = log.New(os.Stderr, "", log.Ltime).Printf
	}
	// gitkit logs every Git request through the standard logger; the harness logs through its own.
	logger := log.New(os.Stderr, "", log.Ltime)
	log.SetOutput(io.Discard)
	ctrllog.SetLogger(logr.Discard()) // the harness's clients log nothing worth reading
	warnf = logger.Printf
	// Everything the harness starts is stopped by run's deferred calls, on success, error or
	// Ctrl-C alike; so errors are returned, never handled with os.Exit inside run.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, logger, *runs, *only, *quick, *binDir, *outDir)
	stop()
	if err != nil {
		logger.Print(err)
		os.Exit(1)
	}
}

func run(ctx context.Context, logger *log.Logger, runs int, only string, quick bool, binDir, outDir string) error {
	started := time.Now()
	defer func() { logger.Printf("bench: %s in all", time.Since(started).Round(time.Second)) }()
	var selected []scenario
	for _, s := range slices.Concat(sourceScenarios(), kustomizeScenarios(), bigScenarios(), notifyScenarios(), helmScenarios(), helmReleaseScenarios(), ociScenarios()) {
		if quick && !s.quick {
			continue
		}
		if only == "" || strings.Contains(","+only+",", ","+s.name+",") {
			selected = append(selected, s)
		}
	}
	if len(selected) == 0 {
		return fmt.Errorf("no scenario matches %q", only)
	}

	env, err := testenv.Start(testenv.WithScheme(sourcev1.AddToScheme, kustomizev1.AddToScheme, helmv2.AddToScheme))
	if err != nil {
		return err
	}
	defer env.Stop()
	work, err := os.MkdirTemp("", "driftless-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	h := &harness{env: env, binDir: binDir, work: work}
	defer h.close()

	var results []result
	for _, s := range selected {
		samples := map[string][]result{}
		var order []string
		for i := 1; i <= runs; i++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			logger.Printf("%s: run %d of %d", s.name, i, runs)
			var rs []result
			if s.runAll != nil {
				rs, err = s.runAll(ctx, h)
			} else {
				var r result
				r, err = s.run(ctx, h)
				r.Scenario, r.Note = s.name, s.note
				rs = []result{r}
			}
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			for _, r := range rs {
				logger.Printf("%s: %.2fs wall, %.2f CPU-s, %.0f MiB peak RSS, %.0f API requests %v", r.Scenario, r.WallSec, r.CPUSec, r.PeakRSSMiB, r.Requests, r.Extra)
				if _, ok := samples[r.Scenario]; !ok {
					order = append(order, r.Scenario)
				}
				samples[r.Scenario] = append(samples[r.Scenario], r)
			}
		}
		for _, name := range order {
			results = append(results, median(samples[name]))
		}
	}
	return write(outDir, results)
}

// median takes the median of each figure separately.
func median(samples []result) result {
	pick := func(get func(result) float64) float64 {
		vals := make([]float64, len(samples))
		for i, s := range samples {
			vals[i] = get(s)
		}
		return medianOf(vals)
	}
	m := samples[0]
	m.WallSec = pick(func(r result) float64 { return r.WallSec })
	m.CPUSec = pick(func(r result) float64 { return r.CPUSec })
	m.PeakRSSMiB = pick(func(r result) float64 { return r.PeakRSSMiB })
	m.Requests = pick(func(r result) float64 { return r.Requests })
	for k := range m.Extra {
		m.Extra[k] = pick(func(r result) float64 { return r.Extra[k] })
	}
	return m
}

// write stores the results in dir, keeping the earlier results of scenarios not run now.
func write(dir string, results []result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	results = mergeEarlier(filepath.Join(dir, "results.json"), results)
	data, err := json.MarshalIndent(map[string]any{
		"date":    time.Now().UTC().Format(time.RFC3339),
		"machine": machine(),
		"results": results,
	}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("| scenario | controller | wall (s) | CPU (s) | peak RSS (MiB) | API requests | other |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | --- |\n")
	for _, r := range results {
		var extra []string
		for k, v := range r.Extra {
			extra = append(extra, fmt.Sprintf("%s %g", k, v))
		}
		sort.Strings(extra)
		fmt.Fprintf(&b, "| %s: %s | %s | %.2f | %.2f | %.0f | %.0f | %s |\n",
			r.Scenario, r.Note, r.Controller, r.WallSec, r.CPUSec, r.PeakRSSMiB, r.Requests, strings.Join(extra, ", "))
	}
	fmt.Print(b.String())
	return os.WriteFile(filepath.Join(dir, "results.md"), []byte(b.String()), 0o644)
}

// mergeEarlier returns the results of path whose scenarios are not in fresh, in their order,
// followed or replaced by fresh ones.
func mergeEarlier(path string, fresh []result) []result {
	data, err := os.ReadFile(path)
	if err != nil {
		return fresh
	}
	var earlier struct {
		Results []result `json:"results"`
	}
	if json.Unmarshal(data, &earlier) != nil {
		return fresh
	}
	byName := map[string]result{}
	for _, r := range fresh {
		byName[r.Scenario] = r
	}
	var out []result
	for _, r := range earlier.Results {
		if f, ok := byName[r.Scenario]; ok {
			out = append(out, f)
			delete(byName, r.Scenario)
		} else {
			out = append(out, r)
		}
	}
	for _, r := range fresh {
		if _, ok := byName[r.Scenario]; ok {
			out = append(out, r)
		}
	}
	return out
}

func machine() string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores", cpu, runtime.NumCPU())
}

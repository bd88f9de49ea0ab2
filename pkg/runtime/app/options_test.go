package app

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func parse(t *testing.T, o *Options, args ...string) error {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return o.Validate()
}

func TestDefaultsMatchFlux(t *testing.T) {
	o := NewOptions("kustomize-controller", 4)
	if err := parse(t, o); err != nil {
		t.Fatal(err)
	}
	if o.MetricsAddr != ":8080" || o.HealthAddr != ":9440" || o.Concurrent != 4 ||
		o.RequeueDependency != 30*time.Second || !o.WatchAllNamespaces ||
		o.MinRetryDelay != 750*time.Millisecond || o.MaxRetryDelay != 15*time.Minute ||
		o.KubeAPIQPS != 50 || o.KubeAPIBurst != 300 || o.IntervalJitterPercentage != 5 ||
		o.LeaderElection.LeaseDuration != 35*time.Second || o.Log.Encoding != "json" || o.Log.Level != "info" {
		t.Fatalf("defaults differ from Flux's: %+v", o)
	}
}

func TestFlagsParse(t *testing.T) {
	o := NewOptions("source-controller", 2)
	o.FeatureGates.Register("CacheSecretsAndConfigMaps", false)
	err := parse(t, o, "--concurrent=10", "--watch-all-namespaces=false", "--watch-label-selector=sharding.fluxcd.io/key=shard1",
		"--events-addr=http://notification-controller.flux-system.svc.cluster.local./", "--log-level=debug",
		"--enable-leader-election", "--feature-gates=CacheSecretsAndConfigMaps=true")
	if err != nil {
		t.Fatal(err)
	}
	if o.Concurrent != 10 || o.WatchAllNamespaces || o.WatchLabelSelector != "sharding.fluxcd.io/key=shard1" ||
		!o.LeaderElection.Enable || !o.FeatureGates.Enabled("CacheSecretsAndConfigMaps") {
		t.Fatalf("flags not applied: %+v", o)
	}
}

func TestInvalidOptionsAreRefused(t *testing.T) {
	for _, args := range [][]string{
		{"--concurrent=0"},
		{"--log-level=verbose"},
		{"--log-encoding=xml"},
		{"--interval-jitter-percentage=100"},
		{"--min-retry-delay=1m", "--max-retry-delay=1s"},
		{"--feature-gates=NoSuchGate=true"},
		{"--feature-gates=x"},
	} {
		o := NewOptions("helm-controller", 4)
		if err := parse(t, o, args...); err == nil {
			t.Errorf("%s: accepted", strings.Join(args, " "))
		}
	}
}

func TestNotificationControllerListensOnEventsAddr(t *testing.T) {
	o := NewOptions("notification-controller", 4)
	o.EventsAddrIsListener = true
	o.EventsAddr = ":9090"
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.BindFlags(fs)
	if fs.Lookup("watch-label-selector") != nil {
		t.Fatal("notification-controller has no --watch-label-selector")
	}
	if f := fs.Lookup("events-addr"); f == nil || f.DefValue != ":9090" {
		t.Fatalf("events-addr = %+v", f)
	}
}

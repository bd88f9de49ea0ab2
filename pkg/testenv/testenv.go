package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Environment is a running control plane with Driftless's CRDs installed.
type Environment struct {
	// Config reaches the API server as a cluster administrator.
	Config *rest.Config
	// Client is a client for Config, with Scheme.
	Client client.Client
	// Scheme knows the built-in kinds and those added with WithScheme.
	Scheme *runtime.Scheme
	// Kubeconfig is the path of a kubeconfig file for Config, for processes under test.
	Kubeconfig string

	env    *envtest.Environment
	dir    string
	reaper *reaper
}

type options struct {
	etcdDataDir    string
	crdDirs        []string
	addToSchemes   []func(*runtime.Scheme) error
	apiServerFlags map[string]string
}

// Option configures Start.
type Option func(*options)

// WithScheme registers API types with the environment's Scheme and Client.
func WithScheme(addToScheme ...func(*runtime.Scheme) error) Option {
	return func(o *options) { o.addToSchemes = append(o.addToSchemes, addToScheme...) }
}

// WithCRDDirectory installs the CRDs of dir instead of the repository's manifests/crds.
func WithCRDDirectory(dir string) Option {
	return func(o *options) { o.crdDirs = []string{dir} }
}

// WithEtcdDataDir keeps etcd's data in dir, so that a later Start with the same dir finds the
// objects of the earlier one (make run's state directory). By default the data is temporary.
func WithEtcdDataDir(dir string) Option {
	return func(o *options) { o.etcdDataDir = dir }
}

// WithAPIServerFlag sets a kube-apiserver flag.
func WithAPIServerFlag(name, value string) Option {
	return func(o *options) { o.apiServerFlags[name] = value }
}

// Start runs etcd and kube-apiserver and installs the CRDs. It fails with instructions when the
// control-plane binaries have not been built.
func Start(opts ...Option) (*Environment, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	o := &options{
		crdDirs: []string{filepath.Join(root, "manifests", "crds")},
		// The default /24 service range runs out after a few hundred Services.
		apiServerFlags: map[string]string{"service-cluster-ip-range": "10.96.0.0/16"},
	}
	for _, opt := range opts {
		opt(o)
	}

	assets, err := BinaryAssetsDir()
	if err != nil {
		return nil, err
	}

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	for _, add := range o.addToSchemes {
		if err := add(scheme); err != nil {
			return nil, fmt.Errorf("building scheme: %w", err)
		}
	}

	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        o.crdDirs,
		ErrorIfCRDPathMissing:    true,
		Scheme:                   scheme,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	e := &Environment{Scheme: scheme, env: env}
	// The environment's files (etcd's data unless it is kept, the kubeconfig) live in one
	// directory, removed when it stops.
	if e.dir, err = os.MkdirTemp("", "driftless-testenv-"); err != nil {
		return nil, err
	}
	dataDir := o.etcdDataDir
	if dataDir == "" {
		dataDir = filepath.Join(e.dir, "etcd")
	}
	// The data is thrown away after the run: etcd need not wait for the disk on every write.
	env.ControlPlane.Etcd = &envtest.Etcd{DataDir: dataDir}
	env.ControlPlane.Etcd.Configure().Set("unsafe-no-fsync", "true")
	args := env.ControlPlane.GetAPIServer().Configure()
	for k, v := range o.apiServerFlags {
		args.Set(k, v)
	}

	cfg, err := env.Start()
	if err != nil {
		_ = os.RemoveAll(e.dir)
		return nil, fmt.Errorf("starting the test control plane from %s: %w", assets, err)
	}
	e.Config = cfg
	fail := func(err error) (*Environment, error) {
		_ = e.Stop()
		return nil, err
	}
	// etcd and kube-apiserver die with this process, even when it is killed.
	pids, err := childrenNamed("etcd", "kube-apiserver")
	if err != nil {
		return fail(fmt.Errorf("finding the control plane's processes: %w", err))
	}
	dirs := []string{e.dir}
	if certs := env.ControlPlane.GetAPIServer().CertDir; certs != "" {
		dirs = append(dirs, certs) // envtest's own temporary directory
	}
	if e.reaper, err = startReaper(pids, dirs); err != nil {
		return fail(err)
	}
	if e.Client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return fail(err)
	}
	if err := e.writeKubeconfig(); err != nil {
		return fail(err)
	}
	return e, nil
}

// writeKubeconfig creates an administrator and stores its kubeconfig in a temporary file.
func (e *Environment) writeKubeconfig() error {
	user, err := e.env.AddUser(envtest.User{Name: "driftless-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("creating the admin user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("rendering kubeconfig: %w", err)
	}
	e.Kubeconfig = filepath.Join(e.dir, "kubeconfig")
	return os.WriteFile(e.Kubeconfig, data, 0o600)
}

// Stop stops the control plane and removes its files.
func (e *Environment) Stop() error {
	err := e.env.Stop()
	e.reaper.release()
	if e.dir != "" {
		err = errors.Join(err, os.RemoveAll(e.dir))
	}
	return err
}

// Main starts an Environment for a test binary, runs the tests and stops it. Use it from
// TestMain: `func TestMain(m *testing.M) { testenv.Main(m, &env, testenv.WithScheme(...)) }`.
func Main(m *testing.M, env **Environment, opts ...Option) {
	e, err := Start(opts...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		os.Exit(1)
	}
	*env = e
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: stopping: %v\n", err)
	}
	os.Exit(code)
}

// Context returns a context bounded by the test's deadline, or by a minute.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, ok := d.Deadline(); ok {
			ctx, cancel = context.WithDeadline(context.Background(), deadline.Add(-5*time.Second))
		}
	}
	t.Cleanup(cancel)
	return ctx
}

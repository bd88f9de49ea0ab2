// Package action runs Helm v4 actions (install, upgrade, test, rollback, uninstall) against a
// cluster through a rest.Config, the tenant's impersonated one for a HelmRelease, with Helm's
// standard Secret storage so that 'helm list' and 'helm history' see the releases.
package action

import (
	"sync"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Getter gives Helm the clients of one rest.Config, with one discovery cache and REST mapper
// for its lifetime (a CRD the chart installs is found by resetting the mapper).
type Getter struct {
	config    *rest.Config
	namespace string

	once      sync.Once
	err       error
	discovery discovery.CachedDiscoveryInterface
	mapper    *restmapper.DeferredDiscoveryRESTMapper
}

// NewGetter returns a Getter for config; namespace is the default of namespaced objects that
// name none.
func NewGetter(config *rest.Config, namespace string) *Getter {
	c := rest.CopyConfig(config)
	if c.QPS == 0 {
		c.QPS, c.Burst = 50, 100
	}
	return &Getter{config: c, namespace: namespace}
}

func (g *Getter) init() {
	g.once.Do(func() {
		dc, err := discovery.NewDiscoveryClientForConfig(g.config)
		if err != nil {
			g.err = err
			return
		}
		g.discovery = memory.NewMemCacheClient(dc)
		g.mapper = restmapper.NewDeferredDiscoveryRESTMapper(g.discovery)
	})
}

// ToRESTConfig returns a copy of the config.
func (g *Getter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.config), nil }

// ToDiscoveryClient returns the cached discovery client.
func (g *Getter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	g.init()
	return g.discovery, g.err
}

// ToRESTMapper returns the deferred mapper, which refreshes itself on a kind it does not know.
func (g *Getter) ToRESTMapper() (apimeta.RESTMapper, error) {
	g.init()
	if g.err != nil {
		return nil, g.err
	}
	return restmapper.NewShortcutExpander(g.mapper, g.discovery, nil), nil
}

// ToRawKubeConfigLoader gives Helm the default namespace; no kubeconfig file is read.
func (g *Getter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["cluster"] = &clientcmdapi.Cluster{Server: g.config.Host}
	cfg.Contexts["context"] = &clientcmdapi.Context{Cluster: "cluster", Namespace: g.namespace}
	cfg.CurrentContext = "context"
	return clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: g.namespace}})
}

// Reset forgets the discovered kinds, after CRDs were created.
func (g *Getter) Reset() {
	g.init()
	if g.err == nil {
		g.discovery.Invalidate()
		g.mapper.Reset()
	}
}

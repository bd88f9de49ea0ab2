package v1beta3

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

// ProviderKind is the kind name of Provider.
const ProviderKind = "Provider"

// Provider types.
const (
	GenericProvider                   string = "generic"
	GenericHMACProvider               string = "generic-hmac"
	SlackProvider                     string = "slack"
	DiscordProvider                   string = "discord"
	MSTeamsProvider                   string = "msteams"
	GitHubProvider                    string = "github"
	GitLabProvider                    string = "gitlab"
	GiteaProvider                     string = "gitea"
	BitbucketProvider                 string = "bitbucket"
	BitbucketServerProvider           string = "bitbucketserver"
	AzureDevOpsProvider               string = "azuredevops"
	GitHubPullRequestCommentProvider  string = "githubpullrequestcomment"
	GitLabMergeRequestCommentProvider string = "gitlabmergerequestcomment"
	GiteaPullRequestCommentProvider   string = "giteapullrequestcomment"
)

// ProviderSpec describes where and how to deliver notifications.
// +kubebuilder:validation:XValidation:rule="!has(self.commitStatusExpr) || self.type in ['github', 'gitlab', 'gitea', 'bitbucket', 'bitbucketserver', 'azuredevops']",message="spec.commitStatusExpr is only supported for the git commit status providers"
type ProviderSpec struct {
	// Type of the provider.
	// +kubebuilder:validation:Enum=slack;discord;msteams;rocket;generic;generic-hmac;github;gitlab;gitea;bitbucketserver;bitbucket;azuredevops;googlechat;googlepubsub;webex;sentry;azureeventhub;telegram;lark;matrix;opsgenie;alertmanager;grafana;githubdispatch;pagerduty;datadog;nats;zulip;otel;githubpullrequestcomment;gitlabmergerequestcomment;giteapullrequestcomment
	// +required
	Type string `json:"type"`

	// Interval is deprecated and ignored.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Interval *meta.Duration `json:"interval,omitempty"`

	// Channel to post to, where the provider has channels.
	// +kubebuilder:validation:MaxLength:=2048
	// +optional
	Channel string `json:"channel,omitempty"`

	// Username to post as, where the provider allows it.
	// +kubebuilder:validation:MaxLength:=2048
	// +optional
	Username string `json:"username,omitempty"`

	// Address of the provider's API or webhook; the Secret's 'address' key overrides it.
	// +kubebuilder:validation:MaxLength:=2048
	// +optional
	Address string `json:"address,omitempty"`

	// Timeout of each request to the provider.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m))+$"
	// +optional
	Timeout *meta.Duration `json:"timeout,omitempty"`

	// Proxy is an HTTP(S) proxy address. Deprecated: use ProxySecretRef.
	// +kubebuilder:validation:Pattern="^(http|https)://.*$"
	// +kubebuilder:validation:MaxLength:=2048
	// +optional
	Proxy string `json:"proxy,omitempty"`

	// ProxySecretRef names a Secret with the proxy 'address', 'username' and 'password'.
	// +optional
	ProxySecretRef *meta.LocalObjectReference `json:"proxySecretRef,omitempty"`

	// SecretRef names a Secret with 'address', 'token', 'username', 'password' or 'headers'.
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`

	// CertSecretRef names a Secret with 'ca.crt', and 'tls.crt' and 'tls.key' for mutual TLS.
	// +optional
	CertSecretRef *meta.LocalObjectReference `json:"certSecretRef,omitempty"`

	// ServiceAccountName is the service account whose workload identity authenticates.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// Suspend stops deliveries through this provider.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// CommitStatusExpr is a CEL expression computing the commit status ID.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	CommitStatusExpr string `json:"commitStatusExpr,omitempty"`
}

// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=all;fluxcd;fluxcd-notifications
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:metadata:labels="app.kubernetes.io/part-of=flux"
// +kubebuilder:metadata:labels="app.kubernetes.io/component=notification-controller"
// +kubebuilder:metadata:annotations="kustomize.toolkit.fluxcd.io/substitute=disabled"

// Provider is a destination for notifications: a chat, a webhook or a Git host's commit statuses.
type Provider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ProviderSpec `json:"spec,omitempty"`
}

// +kubebuilder:object:root=true

// ProviderList is a list of Providers.
type ProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Provider `json:"items"`
}

package notifier

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/driftless-dev/driftless/pkg/apis/event"
)

func init() {
	register("github", newCommitStatus)
	register("gitlab", newCommitStatus)
	register("gitea", newCommitStatus)
	register("bitbucket", newCommitStatus)
	register("bitbucketserver", newCommitStatus)
	register("azuredevops", newCommitStatus)
	register("githubdispatch", newGitHubDispatch)
	register("githubpullrequestcomment", newComment)
	register("gitlabmergerequestcomment", newComment)
	register("giteapullrequestcomment", newComment)
}

// repository is a Git repository's address split into the host's base URL and its path.
type repository struct {
	scheme, host string
	// path is the repository's path on the host, without slashes around it or ".git".
	path string
}

// parseRepository reads https://host/owner/repo(.git), ssh://git@host/owner/repo and
// git@host:owner/repo; an SSH address means the host's HTTPS API.
func parseRepository(address string) (repository, error) {
	s := address
	if !strings.Contains(s, "://") {
		if at, colon := strings.Index(s, "@"), strings.Index(s, ":"); at >= 0 && colon > at {
			s = "ssh://" + s[:colon] + "/" + s[colon+1:]
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return repository{}, fmt.Errorf("the Provider's address is not a Git repository URL")
	}
	r := repository{scheme: u.Scheme, host: u.Host, path: strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")}
	switch r.scheme {
	case "ssh":
		r.scheme, r.host = "https", u.Hostname()
	case "http", "https":
	default:
		return repository{}, fmt.Errorf("the Provider's address is not a Git repository URL")
	}
	if r.path == "" {
		return repository{}, fmt.Errorf("the Provider's address names no repository")
	}
	return r, nil
}

func (r repository) base() string { return r.scheme + "://" + r.host }

// ownerRepo splits an owner/repo path, as GitHub, Gitea and Bitbucket name repositories.
func (r repository) ownerRepo(kind string) (string, string, error) {
	owner, repo, ok := strings.Cut(r.path, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return "", "", fmt.Errorf("a %s Provider's address is https://<host>/<owner>/<repository>", kind)
	}
	return owner, repo, nil
}

// githubAPI is the REST API of github.com, or of a GitHub Enterprise server at /api/v3.
func (r repository) githubAPI() string {
	if r.host == "github.com" {
		return "https://api.github.com"
	}
	return r.base() + "/api/v3"
}

// commitOf is the Git commit the event's revision names: <ref>@sha1:<hex>, sha1:<hex> or
// <hex>; the origin revision (the commit an OCI artifact was built from) comes first.
func commitOf(ev *event.Event) (string, bool) {
	for _, key := range []string{event.MetaOriginRevisionKey, event.MetaRevisionKey} {
		rev := ev.Metadata[key]
		if i := strings.LastIndex(rev, "@"); i >= 0 {
			rev = rev[i+1:]
		}
		rev = strings.TrimPrefix(rev, "sha1:")
		if (len(rev) == 40 || len(rev) == 64) && isHex(rev) && !strings.HasPrefix(ev.Metadata[key], "sha256:") {
			return rev, true
		}
	}
	return "", false
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// statusID is the commit status's id: commitStatusExpr's, or <kind>/<name>/<first segment
// of the Provider's UID>, lowercased, as Flux makes it.
func (cfg *Config) statusID(ev *event.Event) (string, error) {
	if cfg.CommitStatusID != nil {
		id, err := cfg.CommitStatusID(ev)
		if err != nil {
			return "", permanent("spec.commitStatusExpr: %v", err)
		}
		if id == "" {
			return "", permanent("spec.commitStatusExpr computed an empty id")
		}
		return id, nil
	}
	uid, _, _ := strings.Cut(cfg.ProviderUID, "-")
	return strings.ToLower(ev.InvolvedObject.Kind + "/" + ev.InvolvedObject.Name + "/" + uid), nil
}

// commitStatus sets a status on the commit an event names.
type commitStatus struct {
	cfg  *Config
	repo repository
}

func newCommitStatus(cfg *Config) (Notifier, error) {
	if cfg.Address == "" {
		return nil, fmt.Errorf("a %s Provider needs the repository's URL as its address", cfg.Type)
	}
	repo, err := parseRepository(cfg.Address)
	if err != nil {
		return nil, err
	}
	switch cfg.Type {
	case "github", "gitea", "bitbucket":
		if _, _, err := repo.ownerRepo(cfg.Type); err != nil {
			return nil, err
		}
	case "bitbucketserver":
		if _, _, _, err := bitbucketServerRepo(repo); err != nil {
			return nil, err
		}
	case "azuredevops":
		if _, err := azureRepo(repo); err != nil {
			return nil, err
		}
	}
	switch {
	case cfg.Type == "bitbucket":
		if user, pass, ok := strings.Cut(cfg.Token, ":"); !ok || user == "" || pass == "" {
			return nil, fmt.Errorf("a bitbucket Provider's 'token' is <username>:<app password>")
		}
	case cfg.Type == "bitbucketserver":
		if cfg.Token == "" && (cfg.Username == "" || cfg.Password == "") {
			return nil, fmt.Errorf("a bitbucketserver Provider needs a 'token', or a 'username' and 'password', in its Secret")
		}
	case cfg.Token == "":
		return nil, fmt.Errorf("a %s Provider needs a 'token' in its Secret", cfg.Type)
	}
	return &commitStatus{cfg: cfg, repo: repo}, nil
}

// state is the status for the event's severity in the host's words.
func (c *commitStatus) state(ev *event.Event) string {
	ok := ev.Severity != event.SeverityError
	words := map[string][2]string{
		"github":          {"success", "failure"},
		"gitea":           {"success", "failure"},
		"gitlab":          {"success", "failed"},
		"bitbucket":       {"SUCCESSFUL", "FAILED"},
		"bitbucketserver": {"SUCCESSFUL", "FAILED"},
		"azuredevops":     {"succeeded", "failed"},
	}[c.cfg.Type]
	if ok {
		return words[0]
	}
	return words[1]
}

func (c *commitStatus) Post(ctx context.Context, ev *event.Event) error {
	sha, ok := commitOf(ev)
	if !ok {
		return permanent("the event names no Git commit")
	}
	id, err := c.cfg.statusID(ev)
	if err != nil {
		return err
	}
	state, desc := c.state(ev), description(ev)
	switch c.cfg.Type {
	case "github":
		return c.github(ctx, sha, id, state, desc)
	case "gitlab":
		return c.gitlab(ctx, sha, id, state, desc)
	case "gitea":
		return c.gitea(ctx, sha, id, state, desc)
	case "bitbucket":
		return c.bitbucket(ctx, sha, id, state, desc)
	case "bitbucketserver":
		return c.bitbucketServer(ctx, sha, id, state, desc)
	default:
		return c.azure(ctx, sha, id, state, desc)
	}
}

// hostStatus is a commit status as the hosts list them.
type hostStatus struct {
	Context     string `json:"context"`
	Name        string `json:"name"`
	State       string `json:"state"`
	Status      string `json:"status"`
	Description string `json:"description"`
}

// latestIs reports whether the newest status with the id already says the same: the hosts
// list newest first, and Flux posts nothing then.
func latestIs(statuses []hostStatus, id, state, desc string) bool {
	for _, s := range statuses {
		if s.Context == id || s.Name == id {
			return (s.State == state || s.Status == state) && s.Description == desc
		}
	}
	return false
}

func (c *commitStatus) github(ctx context.Context, sha, id, state, desc string) error {
	owner, repo, _ := c.repo.ownerRepo("github")
	api := c.repo.githubAPI() + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo)
	auth := map[string]string{"Authorization": "Bearer " + c.cfg.Token, "Accept": "application/vnd.github+json"}
	return c.postUnlessSaid(ctx, api+"/commits/"+sha+"/statuses?per_page=50", api+"/statuses/"+sha, auth, "context", id, state, truncate(desc, 140))
}

func (c *commitStatus) gitlab(ctx context.Context, sha, id, state, desc string) error {
	api := c.repo.base() + "/api/v4/projects/" + url.PathEscape(c.repo.path)
	auth := map[string]string{"PRIVATE-TOKEN": c.cfg.Token}
	return c.postUnlessSaid(ctx, api+"/repository/commits/"+sha+"/statuses", api+"/statuses/"+sha, auth, "name", id, state, truncate(desc, 255))
}

func (c *commitStatus) gitea(ctx context.Context, sha, id, state, desc string) error {
	owner, repo, _ := c.repo.ownerRepo("gitea")
	api := c.repo.base() + "/api/v1/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo)
	auth := map[string]string{"Authorization": "token " + c.cfg.Token}
	return c.postUnlessSaid(ctx, api+"/commits/"+sha+"/statuses", api+"/statuses/"+sha, auth, "context", id, state, desc)
}

// postUnlessSaid lists the commit's statuses and posts the new one (its id under idKey),
// unless the newest with that id already says the same.
func (c *commitStatus) postUnlessSaid(ctx context.Context, list, post string, auth map[string]string, idKey, id, state, desc string) error {
	var statuses []hostStatus
	if err := c.cfg.do(ctx, call{method: http.MethodGet, url: list, header: auth, into: &statuses}); err != nil {
		return fmt.Errorf("listing the commit's statuses: %w", err)
	}
	if latestIs(statuses, id, state, desc) {
		return nil
	}
	return c.cfg.do(ctx, call{url: post, header: auth, body: map[string]string{"state": state, idKey: id, "description": desc}})
}

// bitbucket posts a build status on Bitbucket Cloud (api.bitbucket.org, or the host's /2.0
// for a server that speaks its API); the key, at most 40 characters there, is the id's SHA-1.
func (c *commitStatus) bitbucket(ctx context.Context, sha, id, state, desc string) error {
	owner, repo, _ := c.repo.ownerRepo("bitbucket")
	api := c.repo.base() + "/2.0"
	if c.repo.host == "bitbucket.org" {
		api = "https://api.bitbucket.org/2.0"
	}
	user, pass, _ := strings.Cut(c.cfg.Token, ":")
	key := fmt.Sprintf("%x", sha1.Sum([]byte(id)))
	return c.cfg.do(ctx, call{
		url:  api + "/repositories/" + url.PathEscape(owner) + "/" + url.PathEscape(repo) + "/commit/" + sha + "/statuses/build",
		user: user, password: pass,
		body: map[string]string{"state": state, "key": key, "name": id, "description": desc, "url": "https://" + c.repo.host + "/" + c.repo.path},
	})
}

// bitbucketServerRepo reads <context path>/scm/<project>/<repo> or
// <context path>/projects/<project>/repos/<repo>.
func bitbucketServerRepo(r repository) (prefix, project, repo string, err error) {
	parts := strings.Split(r.path, "/")
	n := len(parts)
	switch {
	case n >= 3 && parts[n-3] == "scm":
		return strings.Join(parts[:n-3], "/"), parts[n-2], parts[n-1], nil
	case n >= 4 && parts[n-4] == "projects" && parts[n-2] == "repos":
		return strings.Join(parts[:n-4], "/"), parts[n-3], parts[n-1], nil
	}
	return "", "", "", fmt.Errorf("a bitbucketserver Provider's address is https://<host>/scm/<project>/<repository>")
}

func (c *commitStatus) bitbucketServer(ctx context.Context, sha, id, state, desc string) error {
	prefix, project, repo, _ := bitbucketServerRepo(c.repo)
	base := c.repo.base()
	if prefix != "" {
		base += "/" + prefix
	}
	call := call{
		url:  base + "/rest/api/latest/projects/" + url.PathEscape(project) + "/repos/" + url.PathEscape(repo) + "/commits/" + sha + "/builds",
		body: map[string]string{"state": state, "key": id, "name": id, "description": desc, "url": c.repo.base() + "/" + c.repo.path},
	}
	if c.cfg.Token != "" {
		call.header = map[string]string{"Authorization": "Bearer " + c.cfg.Token}
	} else {
		call.user, call.password = c.cfg.Username, c.cfg.Password
	}
	return c.cfg.do(ctx, call)
}

// azureRepo reads https://dev.azure.com/<organization>/<project>/_git/<repository>.
func azureRepo(r repository) ([3]string, error) {
	parts := strings.Split(r.path, "/")
	if len(parts) != 4 || parts[2] != "_git" {
		return [3]string{}, fmt.Errorf("an azuredevops Provider's address is https://dev.azure.com/<organization>/<project>/_git/<repository>")
	}
	return [3]string{parts[0], parts[1], parts[3]}, nil
}

func (c *commitStatus) azure(ctx context.Context, sha, id, state, desc string) error {
	r, _ := azureRepo(c.repo)
	return c.cfg.do(ctx, call{
		url: c.repo.base() + "/" + url.PathEscape(r[0]) + "/" + url.PathEscape(r[1]) + "/_apis/git/repositories/" + url.PathEscape(r[2]) +
			"/commits/" + sha + "/statuses?api-version=6.0",
		password: c.cfg.Token, // a personal access token, with any user name
		body: map[string]any{
			"state":       state,
			"description": desc,
			"context":     map[string]string{"genre": "fluxcd", "name": id},
		},
	})
}

// gitHubDispatch triggers a repository_dispatch event, whose client_payload is the event.
type gitHubDispatch struct {
	cfg  *Config
	repo repository
}

func newGitHubDispatch(cfg *Config) (Notifier, error) {
	if cfg.Address == "" {
		return nil, fmt.Errorf("a githubdispatch Provider needs the repository's URL as its address")
	}
	repo, err := parseRepository(cfg.Address)
	if err != nil {
		return nil, err
	}
	if _, _, err := repo.ownerRepo("githubdispatch"); err != nil {
		return nil, err
	}
	if cfg.Token == "" {
		return nil, fmt.Errorf("a githubdispatch Provider needs a 'token' in its Secret")
	}
	return &gitHubDispatch{cfg: cfg, repo: repo}, nil
}

func (g *gitHubDispatch) Post(ctx context.Context, ev *event.Event) error {
	owner, repo, _ := g.repo.ownerRepo("githubdispatch")
	return g.cfg.do(ctx, call{
		url:    g.repo.githubAPI() + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo) + "/dispatches",
		header: map[string]string{"Authorization": "Bearer " + g.cfg.Token, "Accept": "application/vnd.github+json"},
		body: map[string]any{
			"event_type":     truncate(ev.InvolvedObject.Kind+"/"+ev.InvolvedObject.Name+"."+ev.InvolvedObject.Namespace, 100),
			"client_payload": ev,
		},
	})
}

// comment keeps one comment per object on the pull or merge request an event names,
// editing it on each new event; a marker in the comment finds it again.
type comment struct {
	cfg  *Config
	repo repository
}

func newComment(cfg *Config) (Notifier, error) {
	if cfg.Address == "" {
		return nil, fmt.Errorf("a %s Provider needs the repository's URL as its address", cfg.Type)
	}
	repo, err := parseRepository(cfg.Address)
	if err != nil {
		return nil, err
	}
	if cfg.Type != "gitlabmergerequestcomment" {
		if _, _, err := repo.ownerRepo(cfg.Type); err != nil {
			return nil, err
		}
	}
	if cfg.Token == "" {
		return nil, fmt.Errorf("a %s Provider needs a 'token' in its Secret", cfg.Type)
	}
	return &comment{cfg: cfg, repo: repo}, nil
}

// marker identifies the comment of one object for one Provider, invisibly.
func (c *comment) marker(ev *event.Event) string {
	return fmt.Sprintf("<!-- flux-notification:%s/%s/%s/%s -->", c.cfg.ProviderUID, ev.InvolvedObject.Kind, ev.InvolvedObject.Namespace, ev.InvolvedObject.Name)
}

func (c *comment) Post(ctx context.Context, ev *event.Event) error {
	number := ev.Metadata[event.MetaChangeRequestKey]
	if n, err := strconv.Atoi(number); err != nil || n <= 0 {
		return permanent("the event's change request '%s' is not a pull request number", number)
	}
	marker := c.marker(ev)
	body := marker + "\n\n" + markdown(ev)
	var list, create string
	var update func(id int64) string
	updateMethod := http.MethodPatch
	var auth map[string]string
	switch c.cfg.Type {
	case "githubpullrequestcomment":
		owner, repo, _ := c.repo.ownerRepo(c.cfg.Type)
		api := c.repo.githubAPI() + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo)
		list, create = api+"/issues/"+number+"/comments?per_page=100", api+"/issues/"+number+"/comments"
		update = func(id int64) string { return api + "/issues/comments/" + strconv.FormatInt(id, 10) }
		auth = map[string]string{"Authorization": "Bearer " + c.cfg.Token, "Accept": "application/vnd.github+json"}
	case "giteapullrequestcomment":
		owner, repo, _ := c.repo.ownerRepo(c.cfg.Type)
		api := c.repo.base() + "/api/v1/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo)
		list, create = api+"/issues/"+number+"/comments", api+"/issues/"+number+"/comments"
		update = func(id int64) string { return api + "/issues/comments/" + strconv.FormatInt(id, 10) }
		auth = map[string]string{"Authorization": "token " + c.cfg.Token}
	default:
		api := c.repo.base() + "/api/v4/projects/" + url.PathEscape(c.repo.path) + "/merge_requests/" + number + "/notes"
		list, create = api+"?per_page=100", api
		update = func(id int64) string { return api + "/" + strconv.FormatInt(id, 10) }
		updateMethod = http.MethodPut
		auth = map[string]string{"PRIVATE-TOKEN": c.cfg.Token}
	}
	var existing []struct {
		ID   int64  `json:"id"`
		Body string `json:"body"`
	}
	if err := c.cfg.do(ctx, call{method: http.MethodGet, url: list, header: auth, into: &existing}); err != nil {
		return fmt.Errorf("listing the comments: %w", err)
	}
	for _, e := range existing {
		if strings.Contains(e.Body, marker) {
			if e.Body == body {
				return nil
			}
			return c.cfg.do(ctx, call{method: updateMethod, url: update(e.ID), header: auth, body: map[string]string{"body": body}})
		}
	}
	return c.cfg.do(ctx, call{url: create, header: auth, body: map[string]string{"body": body}})
}

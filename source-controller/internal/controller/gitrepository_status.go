package controller

import (
	"fmt"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// gitRepositoryPolicy is how a GitRepository's conditions make its status: the failure
// conditions, in the order their message is shown, make it not Ready; a reconcile that stored
// (or confirmed) an artifact makes it Ready with that artifact's revision.
var gitRepositoryPolicy = &lifecycle.Policy[*sourcev1.GitRepository]{
	Kind:  sourcev1.GitRepositoryKind,
	Group: sourcev1.GroupVersion.Group,
	Conditions: []string{
		sourcev1.ArtifactInStorageCondition, sourcev1.ArtifactOutdatedCondition, sourcev1.SourceVerifiedCondition,
		sourcev1.FetchFailedCondition, sourcev1.StorageOperationFailedCondition, sourcev1.IncludeUnavailableCondition,
	},
	Negative: []string{
		sourcev1.FetchFailedCondition, sourcev1.StorageOperationFailedCondition, sourcev1.IncludeUnavailableCondition,
	},
	FailedReason: meta.FailedReason,
	Ready: func(obj *sourcev1.GitRepository) (string, string) {
		return meta.SucceededReason, fmt.Sprintf("stored artifact for revision '%s'", artifactRevision(obj))
	},
	Revision: artifactRevision,
}

func artifactRevision(obj *sourcev1.GitRepository) string {
	if obj.Status.Artifact == nil {
		return ""
	}
	return obj.Status.Artifact.Revision
}

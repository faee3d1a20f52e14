package githubfake

import (
	"github.com/google/go-github/v66/github"
)

// timestamp is go-github's JSON time, so documents marshal exactly as the client reads them.
type timestamp = github.Timestamp

// world is everything the fake knows; Server.mu guards it.
type world struct {
	// IDs start at realistic magnitudes (run IDs need more than 32 bits on GitHub today),
	// so code that squeezes them into an int32 breaks in tests, not in production.
	nextWorkflowID, nextRunID, nextJobID, nextArtifactID, nextCheckSuiteID int64
	nextIssueID, nextPullID, nextLabelID                                   int64
	// nextNumber numbers issues and pull requests together, as GitHub does.
	nextNumber int

	workflows      map[int64]*workflow
	workflowByFile map[string]int64
	runs           map[int64]*runRecord
	jobs           map[int64]*Job

	blobs   map[string]string
	trees   map[string][]treeEntry
	commits map[string]*commitObject
	refs    map[string]string

	issues []Issue
	pulls  []PullRequest
	labels map[string]int64

	mutations  []Mutation
	deliveries []*Delivery
}

func newWorld() world {
	return world{
		nextWorkflowID:   61_000_001,
		nextRunID:        11_000_000_001,
		nextJobID:        30_000_000_001,
		nextArtifactID:   1_500_000_001,
		nextCheckSuiteID: 25_000_000_001,
		nextIssueID:      2_400_000_001,
		nextPullID:       1_900_000_001,
		nextLabelID:      7_000_000_001,
		nextNumber:       1,
		workflows:        map[int64]*workflow{},
		workflowByFile:   map[string]int64{},
		runs:             map[int64]*runRecord{},
		jobs:             map[int64]*Job{},
		blobs:            map[string]string{},
		trees:            map[string][]treeEntry{},
		commits:          map[string]*commitObject{},
		refs:             map[string]string{},
		labels:           map[string]int64{},
	}
}

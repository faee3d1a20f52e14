package github

import (
	"context"
	"strings"

	gh "github.com/google/go-github/v66/github"

	"github.com/medic-ops/medic/recovery"
)

// maxIssuePages bounds the search for an earlier follow-up issue (100 issues a page).
const maxIssuePages = 5

// FindIssue looks through the repository's issues carrying labels, open or closed,
// newest first, for one whose body contains marker. Pull requests are skipped.
func (c *Client) FindIssue(ctx context.Context, marker string, labels []string) (int, string, bool, error) {
	opts := &gh.IssueListByRepoOptions{State: "all", Labels: labels, Sort: "created", Direction: "desc",
		ListOptions: gh.ListOptions{PerPage: 100}}
	for page := 0; page < maxIssuePages; page++ {
		issues, resp, err := c.gh.Issues.ListByRepo(ctx, c.owner, c.repo, opts)
		if err != nil {
			return 0, "", false, wrap("ListIssues", resp, err)
		}
		for _, is := range issues {
			if is.IsPullRequest() {
				continue
			}
			if strings.Contains(is.GetBody(), marker) {
				return is.GetNumber(), is.GetHTMLURL(), true, nil
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return 0, "", false, nil
}

// CreateIssue files an issue with labels and returns its number and web URL. Title
// and body leave redacted: this is medic's exit to GitHub's issues.
func (c *Client) CreateIssue(ctx context.Context, title, body string, labels []string) (int, string, error) {
	req := &gh.IssueRequest{Title: gh.String(recovery.Redact(title)), Body: gh.String(recovery.Redact(body))}
	if len(labels) > 0 {
		req.Labels = &labels
	}
	is, resp, err := c.gh.Issues.Create(ctx, c.owner, c.repo, req)
	if err != nil {
		return 0, "", wrap("CreateIssue", resp, err)
	}
	return is.GetNumber(), is.GetHTMLURL(), nil
}
